/**
 * Headless Debian Chromium for the browser tests, driven over the DevTools
 * protocol by `puppeteer-core`, with a fresh profile each time.
 *
 * @module
 */
import puppeteer, { type Browser } from "npm:puppeteer-core@24.43.1";
import { CHROMIUM } from "../tools/_prereq.ts";

/** Flags headless Chromium needs on this kind of machine. */
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  // Only loopback is reachable: fail any other host at once, never wait.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/** Launches headless Chromium with a fresh profile; close it when done. */
export async function launchChromium(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "bgjobs_chromium_" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`],
    defaultViewport: { width: 1100, height: 1800, deviceScaleFactor: 1 },
  });
  profiles.set(browser, profile);
  return browser;
}

const profiles = new WeakMap<Browser, string>();

/**
 * Closes Chromium, killing it if it does not close within 5 s, and removes
 * its profile.
 */
export async function closeChromium(browser: Browser): Promise<void> {
  const process = browser.process();
  const timer = setTimeout(() => process?.kill("SIGKILL"), 5000);
  try {
    await browser.close();
  } catch {
    process?.kill("SIGKILL");
  } finally {
    clearTimeout(timer);
  }
  const profile = profiles.get(browser);
  if (profile) await Deno.remove(profile, { recursive: true }).catch(() => {});
}
