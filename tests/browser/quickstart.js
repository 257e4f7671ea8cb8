// Browser test: runs notebooks/00-quickstart.ipynb through JupyterLab's UI in headless
// chromium and waits for the PNG plot. Started by tests/browser/run.sh, which provides
// JupyterLab and these environment variables:
//   LAB_URL    base URL of the running JupyterLab, e.g. http://127.0.0.1:8890
//   LAB_TOKEN  its token
//   NOTEBOOK   notebook path relative to the server root (default 00-quickstart.ipynb)
//   SHOT       screenshot path (default out/browser/quickstart.png)
//   CHROMIUM   browser binary (default /usr/bin/chromium)
//   TIMEOUT_S  seconds to wait for the image (default 300)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const base = process.env.LAB_URL;
const token = process.env.LAB_TOKEN;
const notebook = process.env.NOTEBOOK || '00-quickstart.ipynb';
const shot = process.env.SHOT || 'out/browser/quickstart.png';
const timeoutMs = 1000 * Number(process.env.TIMEOUT_S || 300);

function log(msg) {
  console.log(`browser-test: ${msg}`);
}

async function main() {
  if (!base || !token) throw new Error('LAB_URL and LAB_TOKEN must be set (use tests/browser/run.sh)');
  fs.mkdirSync(path.dirname(shot), { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gosde-chromium-'));
  const t0 = Date.now();
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 1600 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  try {
    const url = `${base}/lab/tree/${encodeURIComponent(notebook)}?token=${token}`;
    log(`opening ${base}/lab/tree/${notebook}`);
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60000 });

    // The notebook is open once its cells are rendered and the gonb kernel is attached.
    await page.locator('.jp-NotebookPanel .jp-Cell').first().waitFor({ timeout: 60000 });
    await page.locator('.jp-NotebookPanel-toolbar .jp-KernelName', { hasText: 'Go (gonb)' })
      .waitFor({ timeout: 60000 });
    log(`notebook open after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // Run > Run All Cells, through the menu bar like a user would.
    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-content .lm-Menu-itemLabel', { hasText: /^Run All Cells$/ }).click();
    const tRun = Date.now();

    // Wait for the PNG output of the last cell, decoded by the browser.
    const img = page.locator('.jp-OutputArea-output img[src^="data:image/png"]').first();
    await img.waitFor({ state: 'visible', timeout: timeoutMs });
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(),
      { timeout: 30000 });
    log(`image shown ${((Date.now() - tRun) / 1000).toFixed(1)} s after Run All Cells`);

    // Every code cell ran (no "[*]" or "[ ]" prompts) and none printed a failure.
    const prompts = await page.locator('.jp-CodeCell .jp-InputPrompt').allInnerTexts();
    const pending = prompts.filter((p) => !/\[\d+\]/.test(p));
    const stderr = (await page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').allInnerTexts())
      .join('\n');
    await img.scrollIntoViewIfNeeded();
    await page.screenshot({ path: shot, fullPage: true });
    log(`screenshot: ${shot}`);
    if (pending.length) throw new Error(`cells not executed: prompts ${JSON.stringify(prompts)}`);
    if (/^exit status [1-9]|signal:|unknown or not implemented/m.test(stderr)) {
      throw new Error(`a cell failed:\n${stderr}`);
    }
    const errors = await page.locator('[data-mime-type="application/vnd.jupyter.error"]').count();
    if (errors) throw new Error(`${errors} error output(s) in the notebook`);
    log(`passed in ${((Date.now() - t0) / 1000).toFixed(1)} s (${prompts.length} code cells)`);
  } catch (err) {
    await page.screenshot({ path: shot.replace(/\.png$/, '-failed.png'), fullPage: true }).catch(() => {});
    if (consoleErrors.length) log(`browser console errors:\n  ${consoleErrors.slice(0, 10).join('\n  ')}`);
    throw err;
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`browser-test: FAILED: ${err.message || err}`);
  process.exit(1);
});
