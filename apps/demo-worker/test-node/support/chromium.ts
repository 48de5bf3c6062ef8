import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium (`.ci/run` installs it); STRATA_CHROMIUM points elsewhere. */
export const chromiumPath = process.env.STRATA_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium with nothing that phones home: this machine's network is closed, and without
 * these flags Chromium opens (and retries) connections to Google's services at every start.
 * Playwright gives each launch a fresh, empty profile of its own and removes it on close.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's chromium (.ci/run does) or set STRATA_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
