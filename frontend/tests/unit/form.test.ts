// The submit helper of the account and settings forms (src/lib/form.svelte.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/lib/api/client';
import { FormState, hasErrors } from '../../src/lib/form.svelte';

afterEach(() => {
  document.body.innerHTML = '';
});

function inputs(...ids: string[]) {
  for (const id of ids) {
    const el = document.createElement('input');
    el.id = id;
    document.body.append(el);
  }
}

function submitEvent() {
  return new Event('submit', { cancelable: true });
}

/** A promise the test settles. */
function later() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const p = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { p, resolve, reject };
}

describe('FormState', () => {
  it('stops at the checks: their messages under the fields, nothing sent, not busy', async () => {
    const form = new FormState();
    form.failure = new Error('from before');
    let sent = 0;
    const ev = submitEvent();
    await form.run(ev, {
      check: () => ({ username: 'Enter your username.', password: null }),
      send: async () => void sent++,
    });
    expect(ev.defaultPrevented).toBe(true);
    expect(sent).toBe(0);
    expect(form.errors).toEqual({ username: 'Enter your username.', password: null });
    expect(form.failure).toBeNull();
    expect(form.busy).toBe(false);
  });

  it('is busy while the request runs, after resetting what the last submit showed', async () => {
    const form = new FormState();
    form.errors = { username: 'old' };
    const order: string[] = [];
    const gate = later();
    const done = form.run(submitEvent(), {
      reset: () => order.push(`reset busy=${form.busy}`),
      check: () => (order.push('check'), { username: null }),
      send: async () => {
        order.push(`send busy=${form.busy}`);
        await gate.p;
      },
    });
    expect(form.busy).toBe(true);
    expect(form.errors).toEqual({ username: null });
    gate.resolve();
    await done;
    expect(order).toEqual(['reset busy=false', 'check', 'send busy=true']);
    expect(form.busy).toBe(false);
    expect(form.failure).toBeNull();
  });

  it('shows a refusal it cannot map in the alert', async () => {
    const form = new FormState({ password: 'pw' });
    const err = new ApiError('rate_limited', 'slow down', 429);
    await form.run(submitEvent(), {
      send: async () => {
        throw err;
      },
      refused: (e) => (e instanceof ApiError && e.code === 'wrong_password' ? { errors: { password: 'Wrong.' } } : null),
    });
    expect(form.failure).toBe(err);
    expect(form.errors).toEqual({});
    expect(form.busy).toBe(false);
    // Without a mapping at all, the same.
    const plain = new FormState();
    await plain.run(null, {
      send: async () => {
        throw err;
      },
    });
    expect(plain.failure).toBe(err);
  });

  it('puts a mapped refusal under its field, beside the checks’ messages, and focuses the first such field', async () => {
    inputs('f-user', 'f-token', 'f-other');
    const form = new FormState({ user: 'f-user', token: 'f-token' });
    document.getElementById('f-other')!.focus();
    await form.run(submitEvent(), {
      check: () => ({ user: null, token: null }),
      send: async () => {
        throw new ApiError('invalid_setup_token', 'no', 403);
      },
      refused: () => ({ errors: { user: null, unmapped: 'Not a field with an input.', token: 'This setup token is wrong.' } }),
    });
    expect(form.errors).toEqual({ user: null, token: 'This setup token is wrong.', unmapped: 'Not a field with an input.' });
    expect(form.failure).toBeNull();
    expect(document.activeElement?.id).toBe('f-token');
  });

  it('focuses the element a refusal names; a refusal handled otherwise shows nothing and moves no focus', async () => {
    inputs('login-code', 'elsewhere');
    const form = new FormState();
    await form.run(submitEvent(), {
      send: async () => {
        throw new ApiError('totp_required', 'code needed', 401);
      },
      refused: () => ({ focus: 'login-code' }),
    });
    expect(document.activeElement?.id).toBe('login-code');
    expect(form.failure).toBeNull();
    document.getElementById('elsewhere')!.focus();
    await form.run(submitEvent(), {
      send: async () => {
        throw new Error('handled');
      },
      refused: () => ({}),
    });
    expect(document.activeElement?.id).toBe('elsewhere');
    expect(form.failure).toBeNull();
    expect(form.errors).toEqual({});
  });

  it('stays busy while an asynchronous mapping runs', async () => {
    const form = new FormState();
    const seen: boolean[] = [];
    await form.run(submitEvent(), {
      send: async () => {
        throw new Error('x');
      },
      refused: async () => {
        await Promise.resolve();
        seen.push(form.busy);
        return null;
      },
    });
    expect(seen).toEqual([true]);
    expect(form.busy).toBe(false);
  });

  it('clears its errors and alert on demand', () => {
    const form = new FormState();
    form.errors = { a: 'x' };
    form.failure = new Error('y');
    form.clear();
    expect(form.errors).toEqual({});
    expect(form.failure).toBeNull();
    expect(hasErrors({ a: null, b: undefined })).toBe(false);
    expect(hasErrors({ a: null, b: 'no' })).toBe(true);
  });
});
