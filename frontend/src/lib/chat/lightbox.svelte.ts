// The image viewer over the timeline (one per page): the images of the open channel, in the
// order they are shown (end-to-end and plaintext alike), with the keyboard moving between them.

import type { ShownFile } from './attachments';

export interface LightboxItem {
  key: string;
  file: ShownFile;
}

class Lightbox {
  /** The images shown in the timeline, by the key their element carries (`data-lightbox`). */
  private readonly known = new Map<string, ShownFile>();
  items = $state<LightboxItem[]>([]);
  index = $state<number | null>(null);

  register(key: string, file: ShownFile): () => void {
    this.known.set(key, file);
    return () => this.known.delete(key);
  }

  /** Opens the image of `key`, with the others of the same list (`root`) to move to. */
  open(key: string, root: ParentNode | null): void {
    const keys = root ? [...root.querySelectorAll<HTMLElement>('[data-lightbox]')].map((e) => e.dataset.lightbox!) : [key];
    const items = keys.filter((k) => this.known.has(k)).map((k) => ({ key: k, file: this.known.get(k)! }));
    const at = items.findIndex((i) => i.key === key);
    if (at < 0) return;
    this.items = items;
    this.index = at;
  }

  get current(): LightboxItem | null {
    return this.index === null ? null : (this.items[this.index] ?? null);
  }

  move(by: number): void {
    if (this.index === null || !this.items.length) return;
    this.index = Math.min(this.items.length - 1, Math.max(0, this.index + by));
  }

  close(): void {
    this.index = null;
    this.items = [];
  }
}

export const lightbox = new Lightbox();
