// lib.mjs - what send.mjs and inbox.mjs share: Debian's Chromium launched
// through playwright-core with the same flags, the watchers for console
// errors, page errors, failed loads, dialogs and CSP violations, the
// "ok:", "note:" and "FAIL:" lines, the screenshots (and the one taken on
// a failure).

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
export const TIMEOUT_MS = 20000;	// any single wait

export class Failure extends Error {}

export function ok(what) {
  console.log('ok: ' + what);
}
export function note(what) {
  console.log('note: ' + what);
}
export function check(cond, why) {
  if (!cond)
    throw new Failure(why);
}

// The first `count` command-line arguments; with a usage line (exit 2)
// when one is missing or `more` (a further requirement) is false.
export function commandLine(usage, count, more = true) {
  const args = process.argv.slice(2, 2 + count);
  if (args.length < count || args.some((a) => !a) || !more) {
    console.error('usage: ' + usage);
    process.exit(2);
  }
  return args;
}

// BASE_URL without its trailing slashes, and its origin.
export function baseAndOrigin(base0) {
  const base = base0.replace(/\/+$/, '');
  return [base, new URL(base).origin];
}

// Everything the pages report that a person would count as broken, kept
// in `problems`; `dialogs` holds the dialogs (dismissed) that fired.
// `expectedConsole` is the console errors the current step expects:
// [regexp, label] pairs; what matches is kept in `expectedSeen`, not failed.
export class Watcher {
  // ignoreFailed(req): a failed request that is judged elsewhere.
  constructor({ ignoreFailed = () => false } = {}) {
    this.problems = [];
    this.expectedConsole = [];
    this.expectedSeen = [];
    this.dialogs = [];
    this.ignoreFailed = ignoreFailed;
  }

  watch(page) {
    const problems = this.problems;
    page.on('console', (msg) => {
      if (msg.type() !== 'error')
        return;
      const text = msg.text();
      const hit = this.expectedConsole.find(([re]) => re.test(text));
      if (hit)
        this.expectedSeen.push(`${hit[1]}: ${text}`);
      else
        problems.push(`console error: ${text}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('dialog', (d) => {
      this.dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    page.on('requestfailed', (req) => {
      if (this.ignoreFailed(req))
        return;
      problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    });
    page.on('response', (resp) => {
      const req = resp.request();
      // The documents' own statuses are checked where they are expected.
      if (req.isNavigationRequest() && req.frame() === page.mainFrame())
        return;
      if (resp.status() >= 400)
        problems.push(`${resp.status()} for ${req.method()} ${resp.url()}`);
    });
  }

  // Report the console errors that were expected, once.
  expectedReport() {
    for (const s of this.expectedSeen.splice(0))
      note(`expected console error: ${s}`);
  }

  noProblems(what) {
    check(this.problems.length === 0,
      `${what}: ${this.problems.length} problem(s) on the page:\n  ` +
      this.problems.join('\n  '));
  }
}

// CSP violations, seen from inside every document that can run the init
// script (the DevTools protocol injects it and the binding, so labmail's
// CSP does not stop them; a frame sandboxed without allow-scripts may not
// run it at all).  onViolation(v, frameUrl) gets each one.
export async function watchCsp(page, onViolation) {
  await page.exposeBinding('__labtestCsp', (src, v) => {
    let frame = '?';
    try { frame = src.frame.url(); } catch { /* detached */ }
    onViolation(v, frame);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__labtestCsp({
        directive: e.violatedDirective, blocked: e.blockedURI,
        source: e.sourceFile, line: e.lineNumber, sample: e.sample,
        disposition: e.disposition,
      });
    });
  });
}

// shot(page, name, fullPage): a screenshot into shotDir, reported.
export function shooter(shotDir) {
  return async (page, name, fullPage = true) => {
    const file = path.join(shotDir, name);
    await page.screenshot({ path: file, fullPage });
    ok(`screenshot ${file}`);
  };
}

// Launch Chromium, open a 1280 x 800 page watched by watch(page) and
// watchCsp(page, onCsp), run body(browser, page), and exit: 0 when it
// returns, 1 with "FAIL: <step()>: <why>" when it throws, after a
// screenshot of the page into shotDir/failureShot.
export function runInChromium({ shotDir, failureShot, watch, onCsp, step, body }) {
  async function main() {
    fs.mkdirSync(shotDir, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      timeout: TIMEOUT_MS,
    });
    let page;
    try {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 }, locale: 'en-GB',
      });
      page = await context.newPage();
      page.setDefaultTimeout(TIMEOUT_MS);
      watch(page);
      await watchCsp(page, onCsp);
      ok(`Chromium ${browser.version()} started`);
      await body(browser, page);
    } catch (e) {
      if (page)
        await page.screenshot({ path: path.join(shotDir, failureShot), fullPage: true })
          .catch(() => {});
      throw e;
    } finally {
      await browser.close();
    }
  }

  main().then(() => process.exit(0), (e) => {
    const why = e instanceof Failure ? e.message : (e && e.stack) || String(e);
    console.log(`FAIL: ${step()}: ${why}`);
    process.exit(1);
  });
}
