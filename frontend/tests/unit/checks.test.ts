import { describe, expect, it } from 'vitest';
import { communityIdFrom, inviteCodeFrom } from '../../src/screens/chat/checks';

describe('join form checks', () => {
  it('reads invite codes whatever their case, dashes and spaces', () => {
    expect(inviteCodeFrom('7k2m-q9xd-4hpa-zr1t')).toBe('7K2MQ9XD4HPAZR1T');
    expect(inviteCodeFrom(' 7K2M Q9XD 4HPA ZR1T ')).toBe('7K2MQ9XD4HPAZR1T');
    expect(inviteCodeFrom('7K2M-Q9XD')).toBeNull();
    expect(inviteCodeFrom('7K2M-Q9XD-4HPA-ZR1!')).toBeNull();
  });
  it('tells community ids from codes', () => {
    const id = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    expect(communityIdFrom(`https://x.example/join/${id}`)).toBe(id);
    expect(communityIdFrom('7K2M-Q9XD-4HPA-ZR1T')).toBeNull();
  });
});
