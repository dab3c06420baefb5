// inbox.mjs - labmail's login, inbox and message pages in real Chromium,
// with a hostile message in the spool.
//
// Usage: LABMAIL_PASSWORD=... node inbox.mjs BASE_URL USER SCREENSHOT_DIR
//
// The caller (tests/integration/test_browser_inbox.py) made USER, a local
// Unix user whose password is in $LABMAIL_PASSWORD (not on the command
// line, where ps shows it), and wrote USER's spool with two messages,
// oldest first:
//
//   /inbox/1  the hostile one: markup in the subject and the From name, a
//             multipart/alternative whose text part holds markup and a
//             javascript: link, and whose HTML part holds scripts, an
//             onload attribute, a remote image on http://127.0.0.2:9/ (a
//             loopback address where nothing listens) and a form that a
//             script would post to /logout;
//   /inbox/2  an ordinary one.
//
// The strings below must match what the caller wrote.
//
// Drives Debian's /usr/bin/chromium through playwright-core (no browser is
// ever downloaded); nothing here goes off loopback.  Prints "ok: <step>"
// for each check that passes and "note: <what>" for what was seen and
// allowed (the violations that the sandbox and the CSP are expected to
// report), exits 1 with "FAIL: <step>: <why>" on the first check that
// does not pass.

import {
  TIMEOUT_MS, Watcher, baseAndOrigin, check, commandLine, note, ok, runInChromium, shooter,
} from './lib.mjs';

const LOGIN_TIMEOUT_MS = 60000;		// PAM may be slow
const FRAME_EVAL_MS = 5000;		// evaluation in the sandboxed frame
const SETTLE_MS = 1500;			// for a late script, form or image

const HOSTILE_SUBJECT = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_NAME = '<script>window.__pwned=2</script>';
const HOSTILE_TEXT = '<script>window.__pwned=3</script>';
const HOSTILE_LINK = 'javascript:window.__pwned=5';
const ORDINARY_SUBJECT = 'Lab meeting on Thursday';
const ORDINARY_NAME = 'Leia Organa';
const REMOTE_HOST = '127.0.0.2';

let step = 'start';

const password = process.env.LABMAIL_PASSWORD;
const [base0, user, shotDir] = commandLine(
  'LABMAIL_PASSWORD=... node inbox.mjs BASE_URL USER SCREENSHOT_DIR', 3, Boolean(password));
const [BASE, ORIGIN] = baseAndOrigin(base0);

// Everything the pages report that a person would count as broken, the
// console errors that the current step expects ([regexp, label] pairs,
// what matches is kept and reported, not failed) and the dialogs.  An
// image on 127.0.0.2 that the CSP stopped is judged by its own check.
const watcher = new Watcher({
  ignoreFailed: (req) => new URL(req.url()).hostname === REMOTE_HOST,
});
const { dialogs } = watcher;
// Every request the browser made, in order (URL, method, frame URL).
const requests = [];
// CSP violations seen from inside the documents.
const violations = [];

function watch(page) {
  watcher.watch(page);
  page.on('request', (req) => {
    requests.push({ req, url: req.url(), method: req.method(), outcome: 'pending',
      frame: (() => { try { return req.frame().url(); } catch { return '?'; } })() });
  });
  const settle = (req, outcome) => {
    const r = requests.findLast((x) => x.req === req);
    if (r)
      r.outcome = outcome;
  };
  page.on('requestfinished', (req) => settle(req, 'finished'));
  page.on('requestfailed', (req) => settle(req, req.failure()?.errorText || 'failed'));
}

function describe(v) {
  return `${v.directive} blocked ${v.blocked || '(inline)'} in ${v.frame}` +
    (v.sample ? ` (sample ${JSON.stringify(v.sample)})` : '');
}

const shot = shooter(shotDir);

// The subjects of the inbox's rows, top to bottom, as text.
async function listedSubjects(page) {
  return page.locator('table.inbox tbody tr td.subject a').allTextContents();
}

async function loginForm(page, what) {
  const pw = page.locator('form input[name="password"]');
  check(await pw.count() === 1, `${what}: no password field on the page`);
  check(await pw.isVisible(), `${what}: the password field is not visible`);
}

async function login(page) {
  step = 'login';
  // Chromium logs the 401 of the document it loads; that one is expected.
  watcher.expectedConsole = [[/status of 401 \(Unauthorized\)/, 'the 401 of /inbox before login']];
  const resp = await page.goto(`${BASE}/inbox`);
  check(resp && resp.status() === 401, `GET /inbox without a session answered ${resp && resp.status()}, expected 401`);
  await loginForm(page, 'GET /inbox without a session');
  check(await page.locator('table.inbox').count() === 0, 'the inbox list is shown without a session');
  ok('GET /inbox without a session is 401 with the login form');

  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  check(await page.getByLabel('User name').inputValue() === user, 'the user name did not type in as given');
  const [nav] = await Promise.all([
    page.waitForNavigation({ timeout: LOGIN_TIMEOUT_MS, waitUntil: 'load' }),
    page.getByRole('button', { name: 'Log in' }).click(),
  ]);
  check(nav !== null, 'submitting the login form loaded no page');
  // The POST answers 303; the browser follows it to /inbox.
  const post = nav.request().redirectedFrom();
  check(post && post.method() === 'POST' && new URL(post.url()).pathname === '/login',
    `the login form led to ${nav.request().method()} ${nav.url()}, not a redirected POST /login`);
  const postResp = await post.response();
  check(postResp && postResp.status() === 303, `POST /login answered ${postResp && postResp.status()}, expected 303`);
  check(new URL(page.url()).pathname === '/inbox', `after logging in the page is ${page.url()}`);
  check(nav.status() === 200, `GET /inbox after logging in answered ${nav.status()}`);
  ok(`logged in as ${user} through the form: POST /login 303, then GET /inbox 200`);

  const cookies = await page.context().cookies(BASE);
  const session = cookies.find((c) => c.name === 'labmail_session');
  check(session, `no labmail_session cookie after logging in: ${JSON.stringify(cookies.map((c) => c.name))}`);
  check(session.httpOnly, 'the session cookie is not HttpOnly');
  check(session.sameSite === 'Strict', `the session cookie is SameSite=${session.sameSite}`);
  const visible = await page.evaluate(() => document.cookie);
  check(!visible.includes('labmail_session'), 'document.cookie shows the session cookie');
  ok('the session cookie is HttpOnly and SameSite=Strict, not visible to scripts');

  step = 'inbox';
  const subjects = await listedSubjects(page);
  check(subjects.length === 2, `the inbox lists ${subjects.length} message(s): ${JSON.stringify(subjects)}`);
  check(subjects[0] === ORDINARY_SUBJECT && subjects[1] === HOSTILE_SUBJECT,
    `the inbox lists ${JSON.stringify(subjects)}, expected newest first ` +
    JSON.stringify([ORDINARY_SUBJECT, HOSTILE_SUBJECT]));
  const hrefs = await page.locator('table.inbox tbody tr td.subject a')
    .evaluateAll((as) => as.map((a) => new URL(a.href).pathname));
  check(hrefs[0] === '/inbox/2' && hrefs[1] === '/inbox/1', `the rows link to ${JSON.stringify(hrefs)}`);
  ok('the inbox lists both messages, newest first, linking to /inbox/2 and /inbox/1');

  const froms = await page.locator('table.inbox tbody tr td.from').allTextContents();
  check(froms[0].includes(ORDINARY_NAME), `the first row's sender is ${JSON.stringify(froms[0])}`);
  check(froms[1].includes(HOSTILE_NAME), `the hostile row's sender is ${JSON.stringify(froms[1])}`);
  ok('the senders are shown, the hostile name as literal text');
  await pageIsInert(page, 'the inbox');

  // Each row's "source" link on one line (a phone does not show them).
  const sourceLines = await page.locator('table.inbox td.raw a')
    .evaluateAll((as) => as.map((a) => a.getClientRects().length));
  check(sourceLines.every((n) => n === 1), `the "source" links take ${JSON.stringify(sourceLines)} lines`);
  // The icon loaded, and drawn at the size of the text, not squeezed.
  const clips = await page.locator('table.inbox td.att img.icon')
    .evaluateAll((imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0 &&
      i.getBoundingClientRect().width >= 8));
  check(clips.length === 1 && clips[0], `attachment icons (shown): ${JSON.stringify(clips)}`);
  ok('each "source" link on one line; the hostile message\'s attachment icon shows');

  await shot(page, 'inbox.png');
  watcher.noProblems('inbox');
  watcher.expectedReport();
  watcher.expectedConsole = [];
  ok('inbox: no console errors, CSP violations or failed loads');
}

// Nothing in the top document was made from the mail's markup.
async function pageIsInert(page, what) {
  const pwned = await page.evaluate(() => typeof window.__pwned);
  check(pwned === 'undefined', `${what}: window.__pwned is ${pwned}: a script from the mail ran`);
  const made = await page.evaluate(() => ({
    imgs: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.scripts].filter((e) => e.text.includes('__pwned')).length,
    handlers: document.querySelectorAll('[onerror], [onload]').length,
    jsLinks: [...document.querySelectorAll('a[href]')]
      .filter((a) => /^\s*javascript:/i.test(a.getAttribute('href'))).length,
  }));
  check(made.imgs === 0 && made.scripts === 0 && made.handlers === 0 && made.jsLinks === 0,
    `${what} has elements made from the mail's markup: ${JSON.stringify(made)}`);
  check(dialogs.length === 0, `${what}: dialogs fired: ${JSON.stringify(dialogs)}`);
  ok(`${what}: window.__pwned is undefined, no dialog, no element made from the mail's markup`);
}

async function hostileMessage(page) {
  step = 'hostile message';
  // What the sandbox and the CSP are expected to report from the HTML
  // part: its scripts refused (no allow-scripts) and its remote image
  // refused (img-src data:).  Both are proof of protection, not failures.
  watcher.expectedConsole = [
    [/^Blocked script execution in '[^']*\/inbox\/1\/part\/\d+\/view' because the document's frame is sandboxed and the 'allow-scripts' permission is not set\.?$/,
      'sandbox refused a script'],
    // Chromium's wording changed over the years; both mean "blocked".
    [/^(Refused to load the image 'http:\/\/127\.0\.0\.2:9\/t\.png' because it violates|Loading the image 'http:\/\/127\.0\.0\.2:9\/t\.png' violates) the following Content Security Policy directive: "img-src data:"/,
      'CSP refused the remote image'],
  ];
  const firstRequest = requests.length;
  const [nav] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('table.inbox tbody tr td.subject a', { hasText: '<img src=x' }).click(),
  ]);
  check(nav && nav.status() === 200, `GET /inbox/1 answered ${nav && nav.status()}`);
  check(new URL(page.url()).pathname === '/inbox/1', `the hostile row led to ${page.url()}`);
  ok('clicked the hostile row: GET /inbox/1 is 200');
  const csp = (await nav.allHeaders())['content-security-policy'] || '';
  check(/script-src|default-src 'self'/.test(csp) && !/unsafe-inline/.test(csp.split('style-src')[0]),
    `the message page's CSP is ${JSON.stringify(csp)}`);

  // Time for anything late: a script, the autosubmitted form, the image.
  await page.waitForTimeout(SETTLE_MS);

  step = 'hostile message: text';
  const subject = await page.locator('h1.subject').textContent();
  check(subject === HOSTILE_SUBJECT, `the subject reads ${JSON.stringify(subject)}, expected ${JSON.stringify(HOSTILE_SUBJECT)}`);
  check(subject.includes('<img src=x'), 'the subject does not show "<img src=x"');
  const from = await page.locator('dl.headers dt', { hasText: /^From$/ }).locator('xpath=following-sibling::dd[1]').textContent();
  check(from.includes(HOSTILE_NAME) && from.includes('<script>'),
    `the From header reads ${JSON.stringify(from)}, expected it to show ${JSON.stringify(HOSTILE_NAME)}`);
  const body = await page.locator('pre.body').first().textContent();
  check(body.includes(HOSTILE_TEXT), `the text part does not show ${JSON.stringify(HOSTILE_TEXT)}: ${JSON.stringify(body)}`);
  check(body.includes(HOSTILE_LINK), `the text part does not show ${JSON.stringify(HOSTILE_LINK)}: ${JSON.stringify(body)}`);
  ok('the subject, the From name and the text part show the markup as literal text');
  await pageIsInert(page, 'the message page');

  step = 'hostile message: frame';
  const frames = page.locator('iframe');
  check(await frames.count() === 1, `expected one iframe, found ${await frames.count()}`);
  const attrs = await frames.evaluate((f) => ({
    sandbox: f.getAttribute('sandbox'), src: f.getAttribute('src'),
    tokens: [...f.sandbox],
  }));
  check(attrs.sandbox !== null, 'the iframe has no sandbox attribute');
  check(!attrs.tokens.includes('allow-scripts'), `the iframe's sandbox allows scripts: ${JSON.stringify(attrs.sandbox)}`);
  check(!attrs.tokens.includes('allow-same-origin'), `the iframe's sandbox allows same-origin: ${JSON.stringify(attrs.sandbox)}`);
  check(/\/inbox\/1\/part\/\d+\/view$/.test(new URL(attrs.src, BASE).pathname),
    `the iframe's src is ${JSON.stringify(attrs.src)}`);
  ok(`the iframe has sandbox=${JSON.stringify(attrs.sandbox)} (no allow-scripts) and src ${attrs.src}`);

  const frame = page.frames().find((f) => f !== page.mainFrame());
  check(frame, `no child frame in page.frames(): ${page.frames().map((f) => f.url()).join(', ')}`);
  check(new URL(frame.url()).pathname === new URL(attrs.src, BASE).pathname,
    `the frame is at ${frame.url()}, not its src: it navigated (a form or a script ran?)`);
  ok(`the frame still shows ${new URL(frame.url()).pathname}`);
  // Playwright evaluates in the frame through DevTools, which a sandbox
  // may or may not let in; a refusal (or no answer) is itself fine.
  const inFrame = await Promise.race([
    frame.evaluate(() => ({ pwned: typeof window.__pwned,
      origin: String(window.origin), text: document.body ? document.body.innerText : null }))
      .then((v) => ({ v }), (e) => ({ e: e.message.split('\n')[0] })),
    new Promise((r) => setTimeout(() => r({ e: `no answer in ${FRAME_EVAL_MS} ms` }), FRAME_EVAL_MS)),
  ]);
  if (inFrame.v) {
    check(inFrame.v.pwned === 'undefined', `inside the frame window.__pwned is ${inFrame.v.pwned}: the HTML part's script ran`);
    ok(`inside the frame (origin ${inFrame.v.origin}) window.__pwned is undefined`);
    check(inFrame.v.text && inFrame.v.text.includes('Hostile HTML part'),
      `the frame does not show the HTML part: ${JSON.stringify(inFrame.v.text)}`);
    ok('the frame shows the HTML part');
  } else {
    note(`evaluating in the sandboxed frame was refused: ${inFrame.e}`);
  }

  step = 'hostile message: requests';
  const made = requests.slice(firstRequest);
  // Chromium announces a request that the CSP then stops before it is
  // sent (Playwright reports its failure as "csp", the DevTools blocked
  // reason; net::ERR_BLOCKED_BY_CSP in Chromium's own words): that one
  // never left the browser.  Any other fate (a response, a refused
  // connection, still pending) means it went out to the network.
  const remote = made.filter((r) => new URL(r.url).hostname === REMOTE_HOST);
  const leaked = remote.filter((r) => !['csp', 'net::ERR_BLOCKED_BY_CSP'].includes(r.outcome));
  check(leaked.length === 0, `the browser sent ${leaked.map((r) => `${r.method} ${r.url} (${r.outcome})`).join(', ')}: the remote image was requested`);
  for (const r of remote)
    note(`Chromium announced ${r.method} ${r.url} from ${r.frame}; it ended ${r.outcome}, before leaving the browser`);
  const outside = made.filter((r) => new URL(r.url).origin !== ORIGIN &&
    !r.url.startsWith('data:') && !remote.includes(r));
  check(outside.length === 0, `requests outside labmail: ${outside.map((r) => r.url).join(', ')}`);
  const logout = made.filter((r) => new URL(r.url).pathname === '/logout');
  check(logout.length === 0, `the message page made ${logout.map((r) => `${r.method} ${r.url} from ${r.frame}`).join(', ')}: the form was submitted`);
  const pending = made.filter((r) => r.outcome === 'pending');
  check(pending.length === 0, `requests still unfinished after ${SETTLE_MS} ms: ${pending.map((r) => r.url).join(', ')}`);
  ok(`no request sent to ${REMOTE_HOST} and none to /logout; the page made ${made.length} request(s): ` +
    made.map((r) => `${r.method} ${r.url.startsWith(ORIGIN) ? new URL(r.url).pathname : r.url} (${r.outcome})`).join(', '));

  step = 'hostile message: reports';
  check(dialogs.length === 0, `dialogs fired: ${JSON.stringify(dialogs)}`);
  for (const v of violations)
    note(`CSP violation event: ${describe(v)}`);
  if (violations.length === 0)
    note('no securitypolicyviolation event reached the init script (the sandboxed frame runs no script, the init script included)');
  watcher.expectedReport();
  // A violation in the top document would mean the page itself carries
  // something its own CSP refuses; the frame's are expected.
  const top = violations.filter((v) => new URL(v.frame, BASE).pathname === '/inbox/1');
  check(top.length === 0, `CSP violations in the message page itself: ${top.map(describe).join('; ')}`);
  const frameViolations = violations.filter((v) => !top.includes(v));
  const allowed = frameViolations.filter((v) => /^img-src/.test(v.directive) &&
    (v.blocked || '').startsWith(`http://${REMOTE_HOST}`));
  check(allowed.length === frameViolations.length,
    `unexpected CSP violations in the frame: ${frameViolations.filter((v) => !allowed.includes(v)).map(describe).join('; ')}`);
  watcher.noProblems('message');
  ok('message: no console errors, failed loads or CSP violations other than the expected ones');

  await shot(page, 'message.png');
  watcher.expectedConsole = [];
}

async function stillLoggedIn(page) {
  step = 'session after viewing';
  const resp = await page.goto(`${BASE}/inbox`);
  check(resp && resp.status() === 200, `GET /inbox after viewing the message answered ${resp && resp.status()}: logged out?`);
  const subjects = await listedSubjects(page);
  check(subjects.length === 2, `the inbox lists ${JSON.stringify(subjects)} after viewing the message`);
  check(await page.getByRole('button', { name: 'Log out' }).count() === 1, 'no "Log out" button on /inbox');
  ok('after viewing the message the session still holds: GET /inbox is 200 with both messages');
}

async function logout(page) {
  step = 'logout';
  const [nav] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.getByRole('button', { name: 'Log out' }).click(),
  ]);
  const post = nav && nav.request().redirectedFrom();
  check(post && post.method() === 'POST' && new URL(post.url()).pathname === '/logout',
    `the "Log out" button led to ${nav && nav.request().method()} ${nav && nav.url()}`);
  const postResp = await post.response();
  check(postResp && postResp.status() === 303, `POST /logout answered ${postResp && postResp.status()}, expected 303`);
  check(new URL(page.url()).pathname === '/login', `after logging out the page is ${page.url()}`);
  check(nav.status() === 200, `GET /login after logging out answered ${nav.status()}`);
  await loginForm(page, 'GET /login after logging out');
  ok('the "Log out" button: POST /logout 303, then the login form');

  const cookies = await page.context().cookies(BASE);
  const session = cookies.find((c) => c.name === 'labmail_session' && c.value !== '');
  check(!session, 'the session cookie is still set after logging out');

  watcher.expectedConsole = [[/status of 401 \(Unauthorized\)/, 'the 401 of /inbox after logout']];
  const resp = await page.goto(`${BASE}/inbox`);
  check(resp && resp.status() === 401, `GET /inbox after logging out answered ${resp && resp.status()}, expected 401`);
  await loginForm(page, 'GET /inbox after logging out');
  check(await page.locator('table.inbox').count() === 0, 'the inbox list is still shown after logging out');
  ok('after logging out GET /inbox is 401 with the login form');
  watcher.noProblems('logout');
  watcher.expectedReport();
  watcher.expectedConsole = [];
}

// The inbox and the message as a phone shows them (390 x 844 CSS px).
async function phone(browser) {
  step = 'phone';
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, locale: 'en-GB', deviceScaleFactor: 1,
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    watch(page);
    watcher.expectedConsole = [[/status of 401 \(Unauthorized\)/, 'the 401 of /inbox before login (phone)']];
    await page.goto(`${BASE}/inbox`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(password);
    await Promise.all([
      page.waitForNavigation({ timeout: LOGIN_TIMEOUT_MS, waitUntil: 'load' }),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    check(new URL(page.url()).pathname === '/inbox', `after logging in on the phone the page is ${page.url()}`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 390)
      note(`on a 390 px phone the inbox is ${wide} px wide (it scrolls sideways)`);
    else
      ok('on a 390 px phone the inbox is no wider than the screen');
    await shot(page, 'inbox-phone.png');
    watcher.expectedConsole = [
      [/^Blocked script execution in /, 'sandbox refused a script (phone)'],
      [/^(Refused to load|Loading) the image 'http:\/\/127\.0\.0\.2:9\//, 'CSP refused the remote image (phone)'],
    ];
    await page.goto(`${BASE}/inbox/1`);
    await page.waitForTimeout(SETTLE_MS);
    const wideMsg = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wideMsg > 390)
      note(`on a 390 px phone the message is ${wideMsg} px wide (it scrolls sideways)`);
    else
      ok('on a 390 px phone the message is no wider than the screen');
    await shot(page, 'message-phone.png');
    watcher.noProblems('phone');
    watcher.expectedReport();
    watcher.expectedConsole = [];
  } finally {
    await context.close();
  }
}

runInChromium({
  shotDir, failureShot: 'failure-inbox.png', watch, step: () => step,
  onCsp: (v, frame) => violations.push({ ...v, frame }),
  body: async (browser, page) => {
    await login(page);
    await hostileMessage(page);
    await stillLoggedIn(page);
    await logout(page);
    await phone(browser);
    ok('all');
  },
});
