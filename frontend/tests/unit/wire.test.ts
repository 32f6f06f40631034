// The web app's wire types come from the server's OpenAPI document (docs/openapi.json): the
// generated file must be the one `npm run gen:types` writes today, and the bounds the forms check
// must be the ones the document states.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIMITS, WS_LIMITS } from '../../src/lib/api/types';

const root = resolve(__dirname, '../..');
const documentPath = resolve(root, '../docs/openapi.json');

type Json = Record<string, unknown>;
const doc = JSON.parse(readFileSync(documentPath, 'utf8')) as {
  components: { schemas: Record<string, { properties?: Record<string, Json>; oneOf?: Json[] }> };
};

function field(schema: string, name: string): Json {
  const f = doc.components.schemas[schema]?.properties?.[name];
  if (!f) throw new Error(`${schema}.${name} is not in docs/openapi.json`);
  return f;
}

describe('wire types', () => {
  it('the generated schema types are current with docs/openapi.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chatalot-gen-'));
    try {
      const out = join(dir, 'schema.gen.ts');
      execFileSync(resolve(root, 'node_modules/.bin/openapi-typescript'), [documentPath, '-o', out], {
        cwd: root,
        stdio: 'pipe',
      });
      const committed = readFileSync(resolve(root, 'src/lib/api/schema.gen.ts'), 'utf8');
      // a failure here: run `npm run gen:types` (or `make openapi`) and commit the result
      expect(committed === readFileSync(out, 'utf8')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the bounds the forms check are the ones the server states', () => {
    const username = field('RegisterRequest', 'username');
    expect([username.minLength, username.maxLength]).toEqual([LIMITS.USERNAME_MIN, LIMITS.USERNAME_MAX]);
    const password = field('RegisterRequest', 'password');
    expect([password.minLength, password.maxLength]).toEqual([LIMITS.PASSWORD_MIN, LIMITS.PASSWORD_MAX]);
    expect(field('RegisterRequest', 'display_name').maxLength).toBe(LIMITS.DISPLAY_NAME_MAX);
    expect(field('RegisterRequest', 'device_name').maxLength).toBe(LIMITS.DEVICE_NAME_MAX);
    const text = (doc.components.schemas.Content?.oneOf ?? []).find(
      (v) => (v.properties as Record<string, Json> | undefined)?.text,
    )?.properties as Record<string, Json> | undefined;
    expect(text?.text?.maxLength).toBe(WS_LIMITS.TEXT_MAX_CHARS);
  });
});
