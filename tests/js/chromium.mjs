// Headless Chromium for the browser suites: the system's (make chromium-setup installs it), through
// playwright-core (browser downloads do not work here).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * A persistent context (the profile folder `profile`, by default a fresh one that `close()`
 * removes), headless, without background traffic; `options` are playwright's (a viewport, say).
 */
export async function launchContext(profile, options = {}) {
  assert.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (make chromium-setup installs it)`);
  const own = profile === undefined ? mkdtempSync(join(tmpdir(), 'pw-')) : null;
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(own ?? profile, {
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      ...options,
    });
  } catch (e) {
    if (own) rmSync(own, { recursive: true, force: true });
    throw e;
  }
  if (own) {
    const close = ctx.close.bind(ctx);
    ctx.close = async (...args) => {
      try {
        await close(...args);
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    };
  }
  return ctx;
}
