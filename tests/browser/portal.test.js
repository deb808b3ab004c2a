// End-to-end tests of the Credless portal in headless Chromium, against `credless dev`.
//
// One `credless dev` runs for the whole file; each test opens a fresh browser context (no
// cookies), signs in through the fake identity provider, and drives the portal as a person
// would. Screenshots of the main screens go to `target/browser-artifacts/` (or
// `$CREDLESS_ARTIFACTS`). Environment: `CREDLESS_BIN` (default `target/debug/credless`),
// `CHROMIUM` (default `/usr/bin/chromium`).

import { spawn } from 'node:child_process';
import { mkdirSync, createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.CREDLESS_BIN || path.join(root, 'target', 'debug', 'credless');
const artifacts = process.env.CREDLESS_ARTIFACTS || path.join(root, 'target', 'browser-artifacts');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

const STARTUP_MS = 120_000;
const STATE_MS = 60_000;
const TEST_MS = 300_000;

let dev;
let devExit;
let info;
let browser;

/** Starts `credless dev --json` and resolves with its one line of JSON. */
function startDev() {
  mkdirSync(artifacts, { recursive: true });
  const log = createWriteStream(path.join(artifacts, 'credless-dev.log'));
  const child = spawn(
    bin,
    ['dev', '--json', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  child.stderr.pipe(log);
  devExit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`credless dev printed no JSON line within ${STARTUP_MS} ms`)),
      STARTUP_MS,
    );
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${bin}: ${error.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`credless dev exited (${code}) before it was ready; see credless-dev.log`));
    });
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        try {
          resolve({ child, info: JSON.parse(buffer.slice(0, newline)) });
        } catch (error) {
          reject(new Error(`credless dev printed a line that is not JSON: ${error.message}`));
        }
      }
    });
  });
}

before(
  async () => {
    const started = await startDev();
    dev = started.child;
    info = started.info;
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  },
  { timeout: STARTUP_MS + 30_000 },
);

after(async () => {
  if (browser) {
    await browser.close();
  }
  if (dev && dev.exitCode === null) {
    dev.kill('SIGTERM');
    const exit = await Promise.race([
      devExit,
      new Promise((resolve) => setTimeout(() => resolve(null), 15_000)),
    ]);
    if (exit === null) {
      dev.kill('SIGKILL');
    }
  }
});

/**
 * A fresh browser context and page, watched: every request must go to the portal or the local
 * identity provider, and the page may log no error (a CSP violation logs one).
 */
async function openPage(viewport) {
  const context = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC' });
  const page = await context.newPage();
  const allowed = new Set([new URL(info.portal_url).origin, new URL(info.idp_url).origin]);
  const problems = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol !== 'data:' && !allowed.has(url.origin)) {
      problems.push(`request to a third party: ${request.url()}`);
    }
  });
  page.on('console', (message) => {
    // Chromium logs every 4xx answer; the tests provoke some on purpose and check what the page
    // shows instead. Anything else logged as an error (a CSP violation, say) is a failure.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 500) {
      problems.push(`${response.status()} from ${response.url()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return { context, page, problems };
}

/** Opens the portal, is sent to the identity provider, signs in and comes back. */
async function signIn(page) {
  await page.goto(info.portal_url);
  assert.ok(page.url().startsWith(info.idp_url), `sent to the IdP, not ${page.url()}`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.href.startsWith(info.portal_url));
  await page.locator('#who-name').waitFor();
}

const shot = (page, name) =>
  page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

const card = (page, account) => page.locator(`section.account[data-account="${account}"]`);

const row = (page, account, name, state) =>
  card(page, account).locator(
    state ? `tr[data-name="${name}"][data-state="${state}"]` : `tr[data-name="${name}"]`,
  );

const lifecycle = 'sign in, check access, run a VM through its life, and sign out';
test(lifecycle, { timeout: TEST_MS }, async () => {
  const { context, page, problems } = await openPage({ width: 1280, height: 900 });
  try {
    await page.goto(info.portal_url);
    await shot(page, '01-sign-in');
    assert.ok(page.url().startsWith(info.idp_url), 'a visit without a session goes to sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.href.startsWith(info.portal_url));

    // Who is signed in, as which tenant, and the three accounts.
    await page.locator('#who-name').waitFor();
    assert.equal(await page.locator('#who-name').textContent(), info.user.email);
    assert.equal(await page.locator('#who-tenant').textContent(), info.tenant);
    const accounts = page.locator('section.account');
    await accounts.nth(2).waitFor();
    assert.deepEqual(
      (await accounts.evaluateAll((cards) => cards.map((c) => c.dataset.account))).sort(),
      [...info.accounts].sort(),
    );
    for (const provider of ['aws', 'azure', 'gcp']) {
      assert.equal(await page.locator(`section.account[data-provider="${provider}"]`).count(), 1);
    }
    await page
      .locator('.resources .loading')
      .first()
      .waitFor({ state: 'detached', timeout: STATE_MS });
    await shot(page, '02-accounts');

    // Check access: the cloud identity each cloud gave.
    for (const account of info.accounts) {
      await card(page, account)
        .getByRole('button', { name: /Check access/ })
        .click();
      const ok = card(page, account).locator('.verify-result .notice.ok .cloud-identity');
      await ok.waitFor({ timeout: STATE_MS });
      assert.ok((await ok.textContent()).length > 0, `${account}: a cloud identity`);
    }
    await shot(page, '03-check-access');

    // Create a VM in the AWS account; a bad name first, whose refusal is shown in words.
    const aws = info.accounts.find((a) => a.includes('aws')) || info.accounts[0];
    const name = `web-${Date.now().toString(36)}`;
    await card(page, aws).getByRole('button', { name: 'New resource' }).click();
    const form = card(page, aws).locator('form.create');
    await form.getByLabel('Name').fill('Not_Valid');
    await form.getByRole('button', { name: 'Create' }).click();
    const refusal = form.locator('.notice.error');
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /name/i);
    await shot(page, '04-create-refused');
    await form.getByLabel('Name').fill(name);
    await form.getByRole('button', { name: 'Create' }).click();
    await row(page, aws, name).waitFor();
    await shot(page, '05-vm-created');
    await row(page, aws, name, 'running').waitFor({ timeout: STATE_MS });
    await shot(page, '06-vm-running');

    // Stop: Escape cancels the confirmation, the Stop button confirms.
    await row(page, aws, name).getByRole('button', { name: /^Stop/ }).click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor();
    await page.screenshot({ path: path.join(artifacts, '07-confirm-stop.png') });
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await row(page, aws, name).getAttribute('data-state'), 'running');
    await row(page, aws, name).getByRole('button', { name: /^Stop/ }).click();
    await dialog.getByRole('button', { name: 'Stop' }).click();
    await row(page, aws, name, 'stopped').waitFor({ timeout: STATE_MS });
    await shot(page, '08-vm-stopped');

    // Delete, confirmed with the keyboard.
    await row(page, aws, name)
      .getByRole('button', { name: /^Delete/ })
      .click();
    await dialog.waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await row(page, aws, name).waitFor({ state: 'detached', timeout: STATE_MS });
    await shot(page, '09-vm-deleted');

    // The admin's views: onboarding with the trust setup, and the audit log.
    await page.getByRole('link', { name: 'Onboard an account' }).click();
    const onboard = page.locator('form[aria-label="Onboard an account"]');
    await onboard.getByLabel('Account ID').fill('extra-aws');
    await onboard.getByLabel('Display name').fill('Extra');
    await onboard.getByLabel('Role ARN').fill('arn:aws:iam::123456789012:role/credless-extra');
    await onboard.getByRole('button', { name: 'Save account' }).click();
    await page.locator('section.trust pre').first().waitFor({ timeout: STATE_MS });
    assert.match(await page.locator('section.trust').textContent(), /credless-extra/);
    await shot(page, '10-onboard-trust');
    const extra = page.locator('tr[data-account="extra-aws"]');
    await extra.getByRole('button', { name: 'Remove extra-aws' }).click();
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await extra.waitFor({ state: 'detached' });

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('table.audit tbody tr').first().waitFor();
    const actions = await page.locator('table.audit').textContent();
    const expected = ['resource.create', 'resource.stop', 'resource.delete', 'account.put'];
    for (const action of expected) {
      assert.ok(actions.includes(action), `the audit log shows ${action}`);
    }
    await shot(page, '11-audit');

    // Sign out: back to the identity provider's sign-in, and the session is gone.
    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.href.startsWith(info.idp_url), { timeout: STATE_MS });
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot(page, '12-signed-out');
    await page.goto(info.portal_url);
    assert.ok(page.url().startsWith(info.idp_url), 'after sign-out the portal asks to sign in');

    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

const narrow = 'at a phone width the portal is one column without sideways scrolling';
test(narrow, { timeout: TEST_MS }, async () => {
  const { context, page, problems } = await openPage({ width: 390, height: 844 });
  try {
    await signIn(page);
    await page.locator('section.account').nth(2).waitFor();
    await page
      .locator('.resources .loading')
      .first()
      .waitFor({ state: 'detached', timeout: STATE_MS });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    const boxes = await page
      .locator('section.account')
      .evaluateAll((cards) => cards.map((c) => c.getBoundingClientRect().toJSON()));
    assert.ok(
      boxes.every((box) => box.x === boxes[0].x),
      'cards are stacked in one column',
    );
    await shot(page, '13-narrow-accounts');

    // Keyboard: the first Tab reaches the skip link.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');

    // A VM in the GCP account: its row is a stacked card, still without sideways scrolling.
    const gcp = info.accounts.find((a) => a.includes('gcp')) || info.accounts[0];
    const name = `narrow-${Date.now().toString(36)}`;
    await card(page, gcp).getByRole('button', { name: 'New resource' }).click();
    const form = card(page, gcp).locator('form.create');
    await form.getByLabel('Name').fill(name);
    await form.getByRole('button', { name: 'Create' }).click();
    await row(page, gcp, name, 'running').waitFor({ timeout: STATE_MS });
    const wider = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(wider <= 0, `with a VM listed the page scrolls sideways by ${wider}px`);
    await shot(page, '14-narrow-vm');

    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
