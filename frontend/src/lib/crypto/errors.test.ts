// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { decryptAttachment, encryptAttachmentWithKey } from './attachment.js';
import { toHex } from './encoding.js';
import { CryptoError, isCryptoError } from './errors.js';
import { Session } from './ratchet.js';
import { SenderKeyReceiver, SenderKeySender } from './senderKey.js';
import { TestRng, pair, utf8, xorByte } from './testSupport.js';

function caught(f: () => unknown): CryptoError {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e;
    throw e;
  }
  throw new Error('expected a CryptoError');
}

describe('CryptoError', () => {
  it('carries a code and a fixed detail only, never key material', () => {
    const { rng, a, b } = pair(40);
    const secrets = [toHex(a.toBytes()), toHex(b.toBytes())];
    const m = a.encrypt(utf8('x'));
    const errors = [
      caught(() => b.decrypt(xorByte(m.slice(), m.length - 1), rng.source)),
      caught(() => Session.fromBytes(a.toBytes().subarray(0, 100))),
      caught(() => b.decrypt(Uint8Array.of(0x99), rng.source)),
    ];
    const s = SenderKeySender.generate(new Uint8Array(16), new Uint8Array(16).fill(1), new TestRng(1).source);
    secrets.push(toHex(s.toBytes()));
    const r = SenderKeyReceiver.fromDistribution(s.distribution(), new Uint8Array(16).fill(1));
    errors.push(caught(() => r.decrypt(new Uint8Array(16).fill(2), new Uint8Array(16).fill(1), s.encrypt(utf8('y'), new TestRng(2).source))));
    const { pointer, blob } = encryptAttachmentWithKey(new Uint8Array(32).fill(5), 64, utf8('z'));
    secrets.push(toHex(pointer.key));
    errors.push(caught(() => decryptAttachment(pointer, xorByte(blob.slice(), 7))));
    expect(errors.map((e) => e.code)).toEqual(['DecryptFailed', 'Truncated', 'WrongTag', 'IdentityMismatch', 'DigestMismatch']);
    for (const e of errors) {
      expect(isCryptoError(e)).toBe(true);
      expect(isCryptoError(e, e.code)).toBe(true);
      expect(e.name).toBe('CryptoError');
      for (const value of Object.values(e)) expect(value instanceof Uint8Array).toBe(false);
      const text = `${e.message} ${e.detail ?? ''} ${JSON.stringify(e)}`;
      for (const secret of secrets) {
        for (let i = 0; i + 16 <= secret.length; i += 16) expect(text).not.toContain(secret.slice(i, i + 16));
      }
    }
    expect(errors[2]?.detail).toBe('0x99');
  });
});
