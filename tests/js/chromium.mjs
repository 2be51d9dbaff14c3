// Headless Chromium for the browser suites: the system's (make chromium-setup installs it), through
// playwright-core (browser downloads do not work here).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * A persistent context (the profile folder `profile`, a fresh one by default), headless, without
 * background traffic; `options` are playwright's (a viewport, say).
 */
export function launchContext(profile = mkdtempSync(join(tmpdir(), 'pw-')), options = {}) {
  assert.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (make chromium-setup installs it)`);
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    ...options,
  });
}
