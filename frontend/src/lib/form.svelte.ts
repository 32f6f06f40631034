// The submit of the account and settings forms: checks first (their messages under the fields),
// then the request with the form busy, and a refusal either mapped by the form (field errors,
// the first of them taking the focus, or another element to focus) or shown in the form's alert.

import { tick } from 'svelte';

/** Field key → its message, or null/undefined when the field is fine. */
export type FieldErrors = Record<string, string | null | undefined>;

/** What a refused request means for the form, when the form knows (else it goes to the alert). */
export interface Refusal {
  /** Messages for fields (merged into the checks' messages); the first one takes the focus. */
  errors?: FieldErrors;
  /** The id of the element that takes the focus instead. */
  focus?: string;
}

export interface SubmitSteps {
  /** Clears what the form shows of an earlier submit, besides its errors and alert. */
  reset?: () => void;
  /** The form's own checks; any message stops the submit before anything is sent. */
  check?: () => FieldErrors;
  /** The request, and what follows its success. */
  send: () => Promise<void>;
  /** Maps a failed `send` for the form; null or undefined shows it in the alert. */
  refused?: (e: unknown) => Refusal | null | undefined | Promise<Refusal | null | undefined>;
}

export function hasErrors(errors: FieldErrors): boolean {
  return Object.values(errors).some(Boolean);
}

/** Moves the focus to the element `id` once the page shows the latest state. */
export async function focusField(id: string): Promise<void> {
  await tick();
  if (typeof document !== 'undefined') document.getElementById(id)?.focus();
}

export class FormState {
  busy = $state(false);
  /** The error shown in the form's alert (`ErrorMessage`). */
  failure = $state<unknown>(null);
  errors = $state<FieldErrors>({});

  /** `fields`: error key → the id of its input, for the focus. */
  constructor(private readonly fields: Record<string, string> = {}) {}

  /** Forgets the errors and the alert (a form shown again, a step back). */
  clear(): void {
    this.failure = null;
    this.errors = {};
  }

  /** Runs one submit of the form (`event` is the form's submit event, whose default is prevented). */
  async run(event: Event | null, steps: SubmitSteps): Promise<void> {
    event?.preventDefault();
    this.failure = null;
    steps.reset?.();
    this.errors = steps.check?.() ?? {};
    if (hasErrors(this.errors)) return;
    this.busy = true;
    try {
      await steps.send();
    } catch (e) {
      const r = steps.refused ? await steps.refused(e) : null;
      if (!r) {
        this.failure = e;
      } else {
        if (r.errors) this.errors = { ...this.errors, ...r.errors };
        const target = r.focus ?? this.firstFieldWithError(r.errors ?? {});
        if (target) await focusField(target);
      }
    } finally {
      this.busy = false;
    }
  }

  private firstFieldWithError(errors: FieldErrors): string | undefined {
    for (const [key, message] of Object.entries(errors)) {
      if (message && this.fields[key]) return this.fields[key];
    }
    return undefined;
  }
}
