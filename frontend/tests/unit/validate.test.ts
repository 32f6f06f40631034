import { describe, expect, it } from 'vitest';
import {
  byteLength,
  checkCode,
  checkConfirmation,
  checkDisplayName,
  checkGivenPassword,
  checkNewPassword,
  checkSecondFactor,
  checkUsername,
  normaliseTotp,
} from '../../src/lib/validate';

describe('form validation', () => {
  it('usernames follow the server rule', () => {
    for (const ok of ['alice', 'Alice', ' bob ', 'a_b.c-d', '007', 'x'.repeat(32)]) expect(checkUsername(ok)).toBeNull();
    expect(checkUsername('')).toMatch(/Enter/);
    expect(checkUsername('ab')).toMatch(/3 to 32/);
    expect(checkUsername('x'.repeat(33))).toMatch(/3 to 32/);
    for (const bad of ['_alice', '.bob', 'al ice', 'élodie', '<img src=x>', 'a/b']) {
      expect(checkUsername(bad)).toMatch(/Use only/);
    }
  });

  it('new passwords follow the server policy', () => {
    expect(checkNewPassword('a long passphrase', 'alice')).toBeNull();
    expect(checkNewPassword('short', 'alice')).toMatch(/at least 10/);
    expect(checkNewPassword('ALICE-is-the-best', 'alice')).toMatch(/username/);
    expect(checkNewPassword('aaaaaaaaaaaa', 'bob')).toMatch(/repeated/);
    expect(checkNewPassword('é'.repeat(129), 'bob')).toMatch(/at most/); // 258 bytes
    expect(checkNewPassword('éaéaéaé', 'bob')).toBeNull(); // 7 characters, 11 bytes
  });

  it('given passwords only need to be present and bounded', () => {
    expect(checkGivenPassword('')).toMatch(/Enter/);
    expect(checkGivenPassword('x')).toBeNull();
    expect(checkGivenPassword('x'.repeat(257))).toMatch(/too long/);
  });

  it('confirmation must match', () => {
    expect(checkConfirmation('a', 'a')).toBeNull();
    expect(checkConfirmation('a', 'b')).toMatch(/differ/);
  });

  it('display names are optional, bounded, without control characters', () => {
    expect(checkDisplayName('')).toBeNull();
    expect(checkDisplayName('Alice <img src=x>')).toBeNull();
    expect(checkDisplayName('😀'.repeat(64))).toBeNull();
    expect(checkDisplayName('😀'.repeat(65))).toMatch(/at most 64/);
    expect(checkDisplayName('a\u0007b')).toMatch(/control/);
  });

  it('second factors: 6 digits, or a backup code where allowed', () => {
    expect(checkSecondFactor('123456', false)).toBeNull();
    expect(checkSecondFactor('123 456', false)).toBeNull();
    expect(checkSecondFactor('12345', false)).toMatch(/6-digit/);
    expect(checkSecondFactor('ABCD-EFGH', false)).toMatch(/6-digit/);
    expect(checkSecondFactor('ABCD-EFGH', true)).toBeNull();
    expect(checkSecondFactor('', true)).toMatch(/Enter/);
    expect(normaliseTotp(' 123 456 ')).toBe('123456');
    expect(normaliseTotp(' abcd-efgh ')).toBe('abcd-efgh');
  });

  it('recovery and invite codes', () => {
    expect(checkCode('7K2M-Q9XD-4HPA-ZR1T', 'invite code')).toBeNull();
    expect(checkCode('7k2m q9xd', 'recovery code')).toBeNull();
    expect(checkCode(' - ', 'recovery code')).toMatch(/Enter the recovery code/);
    expect(checkCode('7K2M!', 'invite code')).toMatch(/not a valid invite code/);
  });

  it('counts bytes as UTF-8', () => {
    expect(byteLength('é')).toBe(2);
    expect(byteLength('😀')).toBe(4);
  });
});
