/**
 * Headless Debian Chromium through playwright-core, for the browser tests and the docs' screenshots:
 * the system browser (playwright's own downloads are not used), a fresh profile per launch.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.TANDEM_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** True when the browser binary is there (CI installs it; see .ci/run). */
export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * Launches Chromium with a throwaway profile; `close` removes it.
 * @example const b = await launchBrowser(); const page = await b.context.newPage(); ...; await b.close()
 */
export async function launchBrowser(viewport = { width: 1280, height: 860 }, opts: { javaScriptEnabled?: boolean } = {}): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'tandem-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport, javaScriptEnabled: opts.javaScriptEnabled ?? true });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
