// The live frames of device linking (docs/protocol.md: `link_requested`, `link_answered`), as the
// screens need them: a device of the account asking to be linked (the devices with keys offer to
// answer it) and the answer to this device's own request (the new device looks for it at once
// rather than at its next poll). The chat store's frames reach it through `createChatStores`.

import type { ServerFrame } from '../realtime/frames';

class LinkFrames {
  /** Devices of the account that asked to be linked (newest last), until dismissed or answered. */
  requested = $state<string[]>([]);
  /** Bumped when this device's link request was answered. */
  answered = $state(0);

  note(f: ServerFrame): void {
    if (f.type === 'link_requested') {
      if (!this.requested.includes(f.device_id)) this.requested = [...this.requested, f.device_id];
    } else if (f.type === 'link_answered') {
      this.answered++;
    }
  }

  dismiss(deviceId?: string): void {
    this.requested = deviceId ? this.requested.filter((d) => d !== deviceId) : [];
  }
}

export const linkFrames = new LinkFrames();
