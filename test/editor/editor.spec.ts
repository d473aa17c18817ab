// The real Node-RED editor in headless Chromium, with this pack (built dist) installed by `npm start`: palette,
// edit dialogs, help in en-US and pt-BR, masked credentials, an example imported and deployed, the local-hub panel,
// the config dialog's default kind and labels, the panel's shortcut, and converting flows of the archived edge pack.
// Screenshots go to test/artifacts/ (docs/editor.png too when UPDATE_DOCS_SCREENSHOT=1).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { QUEUE_DEFAULTS } from '../../nodes/shared/SendQueue';
import { until } from '../helpers/until';

// Browser globals used inside page.evaluate callbacks (the project compiles without the DOM library).
interface BrowserElement {
  offsetParent: unknown;
  innerText: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  closest(selector: string): BrowserElement | null;
  querySelector(selector: string): BrowserElement | null;
}
interface RedEditor {
  nodes: { node(id: string): unknown; getType(type: string): { category: string } | undefined };
  editor: { edit(node: unknown): void; editConfig(a: string, type: string, id: string): void };
  sidebar: { show(id: string): void; help: { show(type: string): void } };
  actions: { invoke(action: string): void };
}
declare const window: { RED: RedEditor };
declare const document: { querySelectorAll(selector: string): ArrayLike<BrowserElement> };

const root = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(root, 'test', 'artifacts');
const FLOW_TYPES = [
  'iothub-module-input',
  'iothub-module-output',
  'iothub-module-twin',
  'iothub-module-method-request',
  'iothub-module-method-response',
  'iothub-module-invoke',
];
const TIMEOUT = 30_000;
/**
 * A new browser context starts with an empty cache: the editor loads about 10 MB again (Monaco 4.3 MB, Mermaid
 * 3.6 MB, vendor and editor scripts 2 MB, the node definitions with their help), 100 requests. That takes ~5 s on
 * a busy 2-core machine and far longer from a cold disk in a fresh clone, so it happens in `before`, with its own
 * limit, never inside a test's 30 s steps.
 */
const FIRST_LOAD_TIMEOUT = 150_000;
/** A flow written in the archived node-red-contrib-azure-iot-edge-module pack's shape (its example's structure). */
const LEGACY_FLOW = path.join(root, 'test', 'fixtures', 'edge-module-flow.json');

interface Chromium {
  executablePath(): Promise<string>;
  args: string[];
}

/** For each node type: a node of the demo flow, the edit-dialog fields it must show, and values some must hold. */
const DIALOGS: Array<{ type: string; id: string; fields: string[]; values?: Record<string, string> }> = [
  {
    type: 'iothub-module-input',
    id: 'demo-nodered-in',
    fields: ['#node-input-client', '#node-input-inputName', '#node-input-name'],
  },
  {
    type: 'iothub-module-output',
    id: 'demo-sensor-out',
    fields: [
      '#node-input-client',
      '#node-input-outputName',
      '#node-input-queueSize',
      '#node-input-queueMegabytes',
      '#node-input-queueTimeout',
    ],
    // The demo's output node keeps the defaults a new output node gets (bounded in count and in megabytes).
    values: {
      '#node-input-queueSize': String(QUEUE_DEFAULTS.size),
      '#node-input-queueMegabytes': String(QUEUE_DEFAULTS.megabytes),
      '#node-input-queueTimeout': String(QUEUE_DEFAULTS.timeoutSeconds),
    },
  },
  { type: 'iothub-module-twin', id: 'demo-twin', fields: ['#node-input-client', '#node-input-name'] },
  {
    type: 'iothub-module-method-request',
    id: 'demo-method-in',
    fields: ['#node-input-client', '#node-input-methodName', '#node-input-timeout', '#node-input-timeoutStatus'],
  },
  {
    type: 'iothub-module-method-response',
    id: 'demo-method-out',
    fields: ['#node-input-statusCode', '#node-input-name'],
  },
  {
    type: 'iothub-module-invoke',
    id: 'demo-invoke',
    fields: [
      '#node-input-client',
      '#node-input-deviceId',
      '#node-input-moduleId',
      '#node-input-methodName',
      '#node-input-responseTimeout',
    ],
  },
];

/**
 * Starts `npm start`'s script (dist/scripts/start.js) on a free port with a temporary userDir; resolves with the editor
 * URL.
 */
async function startDemo(userDir: string): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'scripts', 'start.js')], {
    cwd: root,
    // A private discovery directory: no other Node-RED on this machine joins the test's hub.
    env: {
      ...process.env,
      PORT: '0',
      NODE_RED_USER_DIR: userDir,
      LOG_LEVEL: 'warn',
      AZURE_IOT_LOCAL_HUB_DIR: path.join(userDir, 'hubs'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
  const editorUrl = (): string | undefined => /Node-RED editor:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(text)?.[1];
  await until(
    () => editorUrl() !== undefined || child.exitCode !== null,
    'npm start to print the editor URL',
    60_000,
  ).catch(() => undefined);
  const url = editorUrl();
  if (url === undefined) {
    child.kill('SIGKILL');
    throw new Error(`npm start did not come up:\n${text}`);
  }
  return { child, url, output: () => text };
}

async function openEditor(
  browser: Browser,
  url: string,
  locale: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(url, { timeout: FIRST_LOAD_TIMEOUT });
  await page.waitForSelector('.red-ui-palette-node[data-palette-type="iothub-module-input"]', {
    timeout: FIRST_LOAD_TIMEOUT,
  });
  // The demo flow is on the canvas once its nodes exist in the editor's model.
  await page.waitForFunction(() => Boolean(window.RED.nodes.node('demo-twin')), undefined, {
    timeout: FIRST_LOAD_TIMEOUT,
  });
  return { context, page };
}

/** The first paragraph of a node's help in a language, as plain text (what the help sidebar must show). */
function helpLead(lang: string, type: string): string {
  const html = fs.readFileSync(path.join(root, 'locales', lang, `${type}.html`), 'utf8');
  const p = /<p>([\s\S]*?)<\/p>/.exec(html);
  assert.ok(p, `${lang}/${type}.html has a paragraph`);
  return p[1]!
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 40);
}

/** Shows a node type's help in the sidebar; resolves with the visible help text once it holds `lead`. */
async function helpText(page: Page, type: string, lead: string): Promise<string> {
  await page.evaluate((t) => window.RED.sidebar.help.show(t), type);
  const handle = await page.waitForFunction((expected) => {
    const shown = Array.from(document.querySelectorAll('.red-ui-help')).filter(
      (e) => e.offsetParent !== null && e.querySelector('h3'),
    );
    const text = shown.map((e) => e.innerText.replace(/\s+/g, ' ')).find((t) => t.includes(expected));
    return text ?? false;
  }, lead);
  return (await handle.jsonValue()) as string;
}

/** For each palette node of the pack: the room (px) between its label text and the node's nearer side edge. */
async function paletteLabelRoom(page: Page): Promise<Array<[string, string, number]>> {
  return page.evaluate(`Array.from(document.querySelectorAll('#red-ui-palette-container-Azure_IoT_Edge .red-ui-palette-node')).map((n) => {
    const label = n.querySelector('.red-ui-palette-label');
    const range = document.createRange();
    range.selectNodeContents(label);
    const text = range.getBoundingClientRect();
    const box = n.getBoundingClientRect();
    return [n.getAttribute('data-palette-type'), label.textContent, Math.round(Math.min(text.left - box.left, box.right - text.right))];
  })`);
}

describe('Node-RED editor with this pack (headless Chromium)', function () {
  this.timeout(180_000);
  let demo: Awaited<ReturnType<typeof startDemo>>;
  let browser: Browser;
  let en: { context: BrowserContext; page: Page };
  let pt: { context: BrowserContext; page: Page };
  let userDir: string;

  before(async function () {
    // Starting Node-RED, unpacking Chromium and two first loads of the editor (see FIRST_LOAD_TIMEOUT).
    this.timeout(400_000);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-red-editor-test-'));
    demo = await startDemo(userDir);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const chromiumModule = require('@sparticuz/chromium') as Chromium & { default?: Chromium };
    // 143.x (the last major that installs on Node 20) exports the class itself from its CommonJS build; later majors a
    // default.
    const chromium = chromiumModule.default ?? chromiumModule;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const playwright = require('playwright-core') as typeof import('playwright-core');
    // --single-process (meant for serverless hosts) lets closing one browser context take the whole browser down.
    const args = chromium.args.filter((arg) => arg !== '--single-process');
    browser = await playwright.chromium.launch({
      executablePath: await chromium.executablePath(),
      args,
      headless: true,
    });
    en = await openEditor(browser, demo.url, 'en-US');
    pt = await openEditor(browser, demo.url, 'pt-BR');
  });

  after(async () => {
    await browser?.close();
    if (demo && demo.child.exitCode === null) {
      const exited = once(demo.child, 'exit');
      demo.child.kill('SIGINT');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    }
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('the palette shows the "Azure IoT Edge" category with the six flow nodes, and the config node type', async () => {
    const { page } = en;
    const category = page.locator('#red-ui-palette-container-Azure_IoT_Edge');
    await category.waitFor();
    const types = await category
      .locator('.red-ui-palette-node')
      .evaluateAll((nodes: BrowserElement[]) => nodes.map((n) => n.getAttribute('data-palette-type')));
    assert.deepEqual([...types].sort(), [...FLOW_TYPES].sort());
    const header = await page
      .locator('#red-ui-palette-Azure_IoT_Edge, #red-ui-palette-container-Azure_IoT_Edge')
      .first()
      .evaluate((el: BrowserElement) =>
        el.closest('.red-ui-palette-category')?.querySelector('.red-ui-palette-header')?.textContent?.trim(),
      );
    assert.equal(header, 'Azure IoT Edge');
    const config = await page.evaluate(() => window.RED.nodes.getType('iothub-module-client')?.category);
    assert.equal(config, 'config');
    await page.screenshot({ path: path.join(ARTIFACTS, 'editor-palette.png') });
  });

  it('the first start of a fresh userDir logs no warning (once "Encrypted credentials not found")', () => {
    // The test's userDir is new: npm start wrote the encrypted (empty) credentials before Node-RED read them.
    assert.doesNotMatch(demo.output(), /Encrypted credentials not found/);
    assert.doesNotMatch(demo.output(), /\[warn\]/);
    assert.ok(fs.existsSync(path.join(userDir, 'flows_cred.json')));
  });

  for (const { type, id, fields, values } of DIALOGS) {
    it(`the ${type} edit dialog opens with its fields`, async () => {
      const { page } = en;
      await page.evaluate((nodeId) => {
        window.RED.editor.edit(window.RED.nodes.node(nodeId));
      }, id);
      for (const field of fields) await page.locator(`.red-ui-tray ${field}`).first().waitFor({ state: 'attached' });
      for (const [field, value] of Object.entries(values ?? {})) {
        const input = page.locator(`.red-ui-tray ${field}`).first();
        assert.ok(await input.isVisible(), `${field} is shown`);
        assert.equal(await input.inputValue(), value, field);
      }
      await page.locator('.red-ui-tray .red-ui-tray-header').first().waitFor();
      await page.screenshot({ path: path.join(ARTIFACTS, `dialog-${type}.png`) });
      await page.click('#node-dialog-cancel');
      await page.locator('.red-ui-tray').waitFor({ state: 'detached' });
    });
  }

  it('the config node dialog shows the connection kinds and masks the connection string (type=password)', async () => {
    const { page } = en;
    await page.evaluate(() => window.RED.editor.editConfig('', 'iothub-module-client', 'demo-client-sensor'));
    const field = page.locator('#node-config-input-connectionString');
    await field.waitFor();
    assert.equal(await field.getAttribute('type'), 'password');
    assert.doesNotMatch(await field.inputValue(), /SharedAccessKey/, 'the secret never reaches the browser');
    const kinds = await page
      .locator('#node-config-input-connectionType option')
      .evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
    for (const kind of ['connectionString', 'sasToken', 'x509', 'edge', 'localHub'])
      assert.ok(kinds.includes(kind), `kind ${kind}`);
    // The local hub kind (development only) asks for a device id, a module id and optional routes, and no secret.
    await page.selectOption('#node-config-input-connectionType', 'localHub');
    for (const field of ['#node-config-input-deviceId', '#node-config-input-moduleId', '#node-config-input-routes'])
      await page.locator(field).waitFor({ state: 'visible' });
    assert.equal(await field.isVisible(), false, 'no connection string for the local hub');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dialog-iothub-module-client-localHub.png') });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dialog-iothub-module-client.png') });
    await page.click('#node-config-dialog-cancel');
    await page.locator('.red-ui-tray').waitFor({ state: 'detached' });
  });

  it("palette labels keep clear of their node's edges, in en-US and pt-BR", async () => {
    const pt = await openEditor(browser, demo.url, 'pt-BR');
    try {
      for (const page of [en.page, pt.page]) {
        const room = await paletteLabelRoom(page);
        assert.equal(room.length, FLOW_TYPES.length);
        // A label that fills the node (the old "module twin": 1 px) reads as touching its edge.
        for (const [type, label, px] of room) assert.ok(px >= 6, `${type} "${label}": ${px} px from the edge`);
      }
    } finally {
      await pt.context.close();
    }
  });

  it('a new config node: named in the title and help, starts as Local hub under npm start, placeholders per kind, opens the Local hub tab', async () => {
    const { page } = en;
    await page.evaluate(() => window.RED.editor.editConfig('', 'iothub-module-client', '_ADD_'));
    const title = page.locator('.red-ui-tray-titlebar').first();
    await title.waitFor();
    assert.equal((await title.innerText()).trim(), 'Add new IoT Hub module client config node');
    // The runtime answers the default: npm start shares its local hub, so Local hub (not the demo module's IoT Edge
    // variables).
    await page.waitForFunction(`$('#node-config-input-connectionType').val() === 'localHub'`);
    const deviceId = page.locator('#node-config-input-deviceId');
    assert.equal(await deviceId.getAttribute('placeholder'), 'optional, default local-device');
    await page.locator('.iothub-kind-localHub.form-tips', { hasText: 'npm run hub' }).waitFor();
    await page.selectOption('#node-config-input-connectionType', 'x509');
    assert.equal(await deviceId.getAttribute('placeholder'), "the certificate's device, e.g. my-device");
    await page.selectOption('#node-config-input-connectionType', 'localHub');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dialog-iothub-module-client-new.png') });
    await page.click('#iothub-module-client-open-local-hub');
    await page.locator('.iothub-local-hub-panel').waitFor({ state: 'visible' });
    await page.click('#node-config-dialog-cancel');
    await page.locator('.red-ui-tray').waitFor({ state: 'detached' });
    // The help tree and the help title show the name, not the type.
    await page.evaluate(() => window.RED.sidebar.help.show('iothub-module-client'));
    await page
      .locator('.red-ui-treeList-label', { hasText: /^\s*IoT Hub module client\s*$/ })
      .first()
      .waitFor();
    const helpTree = await page.evaluate<string[]>(`(() => {
      const named = Array.from(document.querySelectorAll('.red-ui-treeList-label')).find((e) => e.innerText.trim() === 'IoT Hub module client');
      return Array.from(named.closest('.red-ui-treeList-container').querySelectorAll('.red-ui-treeList-label')).map((e) => e.innerText.trim());
    })()`);
    assert.ok(!helpTree.includes('iothub-module-client'), helpTree.join(', '));
  });

  it('a new config node asks the runtime for its default kind; a choice made first wins', async () => {
    const { page } = en;
    // Hold the runtime's answer back until the user has chosen.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/iothub-local-hub/connection-default', async (route) => {
      await held;
      await route.continue();
    });
    try {
      await page.evaluate(() => window.RED.editor.editConfig('', 'iothub-module-client', '_ADD_'));
      await page.locator('#node-config-input-connectionType').waitFor();
      await page.selectOption('#node-config-input-connectionType', 'sasToken');
      const answered = page.waitForResponse('**/iothub-local-hub/connection-default');
      release();
      await answered;
      await page.waitForFunction('$.active === 0');
      assert.equal(await page.locator('#node-config-input-connectionType').inputValue(), 'sasToken');
      await page.click('#node-config-dialog-cancel');
      await page.locator('.red-ui-tray').waitFor({ state: 'detached' });
    } finally {
      await page.unroute('**/iothub-local-hub/connection-default');
    }
  });

  it('the Local hub tab opens with ctrl-g l (an editor action, listed with its shortcut)', async () => {
    const { page } = en;
    await page.evaluate(() => window.RED.sidebar.show('info'));
    await page.locator('.iothub-local-hub-panel').waitFor({ state: 'hidden' });
    assert.equal(
      await page.evaluate(`RED.keyboard.getShortcut('iothub-local-hub:show-local-hub-tab').key`),
      'ctrl-g l',
    );
    await page.click('#red-ui-workspace-chart', { position: { x: 300, y: 650 } });
    await page.keyboard.press('Control+g');
    await page.keyboard.press('l');
    await page.locator('.iothub-local-hub-panel').waitFor({ state: 'visible' });
    // The panel itself is what the user sees; the tab's own markup differs between Node-RED 4 and 5.
    const box = await page.locator('.iothub-local-hub-panel').boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `the Local hub panel is shown (${JSON.stringify(box)})`);
  });

  it('help is shown for every node type in en-US and in pt-BR', async () => {
    try {
      for (const type of [...FLOW_TYPES, 'iothub-module-client']) {
        const english = await helpText(en.page, type, helpLead('en-US', type));
        assert.match(english, /Inputs|Outputs|Details/, `${type} en-US help`);
        const portuguese = await helpText(pt.page, type, helpLead('pt-BR', type));
        assert.match(portuguese, /Entradas|Saídas|Detalhes/, `${type} pt-BR help`);
        assert.notEqual(portuguese, english);
      }
      await pt.page.screenshot({ path: path.join(ARTIFACTS, 'help-pt-BR.png') });
    } finally {
      await pt.context.close();
    }
  });

  it("the Local hub sidebar tab shows the demo's modules and upstream traffic", async () => {
    const { page } = en;
    await page.evaluate(() => window.RED.sidebar.show('iothub-local-hub'));
    await page.locator('.iothub-lh-module[data-module="local-device/nodered"]').waitFor();
    await page.locator('.iothub-lh-message', { hasText: 'local-device/nodered [upstream]' }).first().waitFor();
    await page.click('.iothub-lh-module[data-module="local-device/nodered"]');
    await page.locator('.iothub-lh-detail').waitFor({ state: 'visible' });
    // The demo sets threshold 21.5 eight seconds after start; the panel shows nodered's desired and reported values.
    await page.locator('.iothub-lh-reported', { hasText: 'threshold' }).waitFor({ timeout: 60_000 });
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
      await page.screenshot({ path: path.join(root, 'docs', 'editor.png') });
    }
    // Editing the desired properties in the panel reaches the twin node, whose flow reports the value back.
    await page.fill('.iothub-lh-desired', '{ "threshold": 30 }');
    await page.click('.iothub-lh-update');
    await page.locator('.iothub-lh-reported', { hasText: /"threshold": 30\b/ }).waitFor();
    await page.click('.iothub-lh-module[data-module="local-device/sensor"]');
    await page.fill('.iothub-lh-method-name', 'getStatus');
    await page.fill('.iothub-lh-method-payload', '{}');
    await page.click('.iothub-lh-invoke');
    await page.locator('.iothub-lh-method-result', { hasText: /status 200[\s\S]*"sent"/ }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'panel.png') });
    await page.fill('.iothub-lh-method-name', 'noSuchMethod');
    await page.click('.iothub-lh-invoke');
    await page.locator('.iothub-lh-method-result', { hasText: /status 501/ }).waitFor();
  });

  it('an example imports from Import → Examples and deploys; its message reaches the panel', async () => {
    const { page } = en;
    await page.evaluate(() => window.RED.actions.invoke('core:show-examples-import-dialog'));
    const dialog = page.locator('.ui-dialog').filter({ has: page.locator('#red-ui-clipboard-dialog-ok') });
    await dialog.locator('.red-ui-treeList-label', { hasText: 'node-red-contrib-azure-iot-module' }).click();
    await dialog.locator('.red-ui-treeList-label', { hasText: '01 - Send to an output with properties' }).click();
    await page.click('#red-ui-clipboard-dialog-ok');
    await page.waitForFunction(() => Boolean(window.RED.nodes.node('ex1-go')));
    await page.click('#red-ui-header-button-deploy');
    await page
      .locator('.red-ui-notification', { hasText: /deployed/i })
      .first()
      .waitFor();
    await page.evaluate(() => window.RED.sidebar.show('iothub-local-hub'));
    await page.locator('.iothub-lh-module[data-module="local-device/ex-output"] .fa-circle').first().waitFor();
    // Click the inject node's button once the module is online (the hub shows it connected).
    await page.waitForFunction(
      async () => {
        const state = (await (await fetch('iothub-local-hub/state')).json()) as {
          modules: Array<{ moduleId: string; connected: boolean }>;
        };
        return state.modules.some((m) => m.moduleId === 'ex-output' && m.connected);
      },
      undefined,
      { polling: 250 },
    );
    const status = await page.evaluate(async () => (await fetch('inject/ex1-go', { method: 'POST' })).status);
    assert.equal(status, 200);
    await page.locator('.iothub-lh-message', { hasText: 'local-device/ex-output [alerts]' }).first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'example-deployed.png') });
    assert.match(demo.output(), /upstream\s+local-device\/ex-output \[alerts\]/);
  });
  it('a flow of the archived edge-module pack imports as unknown nodes; Convert in the Local hub tab replaces them and it deploys', async () => {
    const { page } = en;
    const flow = fs.readFileSync(LEGACY_FLOW, 'utf8');
    await page.evaluate(() => window.RED.actions.invoke('core:show-import-dialog'));
    await page.fill('#red-ui-clipboard-dialog-import-text', flow);
    // The dialog checks the JSON on key-up.
    await page.press('#red-ui-clipboard-dialog-import-text', 'End');
    await page.click('#red-ui-clipboard-dialog-ok');
    await page.waitForFunction(() => Boolean(window.RED.nodes.node('legacy-method')));
    // Drop the imported nodes where they hang on the pointer.
    await page.mouse.click(600, 600);
    const before = await page.evaluate<Record<string, [string, string, number, number]>>(
      `(() => { const r = {}; RED.nodes.eachNode((n) => { if (n.z === 'legacy-tab') r[n.id] = [n.type, n.name, n.x, n.y]; }); return r; })()`,
    );
    assert.equal(before['legacy-method']![0], 'unknown');
    await page.evaluate(() => window.RED.sidebar.show('iothub-local-hub'));
    await page.click('.iothub-lh-convert');
    await page
      .locator('.red-ui-notification', { hasText: '7 node(s) of the archived edge-module pack converted' })
      .waitFor();
    const after = await page.evaluate<Record<string, [string, string, number, number]>>(
      `(() => { const r = {}; RED.nodes.eachNode((n) => { if (n.z === 'legacy-tab') r[n.id] = [n.type, n.name, n.x, n.y]; }); return r; })()`,
    );
    const types = Object.values(after).map(([type]) => type);
    assert.ok(!types.includes('unknown'), JSON.stringify(after));
    assert.deepEqual(
      [
        after['legacy-in1']![0],
        after['legacy-out1']![0],
        after['legacy-twin']![0],
        after['legacy-method']![0],
        after['legacy-method-response']![0],
      ],
      [
        'iothub-module-input',
        'iothub-module-output',
        'iothub-module-twin',
        'iothub-module-method-request',
        'iothub-module-method-response',
      ],
    );
    // Positions and names kept; the user's nodes untouched.
    for (const id of ['legacy-in1', 'legacy-out1', 'legacy-twin', 'legacy-method', 'legacy-answer', 'legacy-reported'])
      assert.deepEqual(after[id]!.slice(2), before[id]!.slice(2), id);
    assert.equal(after['legacy-answer']![1], 'answer');
    // Wiring: the user's answer goes to the method's answer node, the report through the json node to the twin.
    const links = await page.evaluate<string[]>(
      `RED.nodes.filterLinks({}).filter((l) => l.source.z === 'legacy-tab').map((l) => l.source.id + '>' + l.target.id)`,
    );
    for (const link of [
      'legacy-answer>legacy-method-answer',
      'legacy-method-answer>legacy-method-response',
      'legacy-method>legacy-method-request',
      'legacy-method-request>legacy-answer',
      'legacy-reported>legacy-twin-json',
      'legacy-twin-json>legacy-twin',
      'legacy-in1>legacy-adjust',
      'legacy-adjust>legacy-out2',
      'legacy-telemetry>legacy-out1',
    ]) {
      assert.ok(links.includes(link), `${link} in ${links.join(' ')}`);
    }
    // A module has one identity: the archived client is merged into the demo's own IoT Edge environment client
    // (a second connection of that identity would close the first, and so on, IoT Hub's 400027).
    assert.equal(await page.evaluate(`Boolean(RED.nodes.node('legacy-client'))`), false);
    assert.equal(await page.evaluate(`RED.nodes.node('legacy-in1').client`), 'demo-client-nodered');
    await page.screenshot({ path: path.join(ARTIFACTS, 'edge-module-converted.png') });
    // Undo puts the archived nodes back; converting again gives the same result.
    await page.evaluate(`RED.actions.invoke('core:undo')`);
    await page.waitForFunction(
      `RED.nodes.node('legacy-method') && RED.nodes.node('legacy-method').type === 'unknown' && !RED.nodes.node('legacy-method-response')`,
    );
    await page.click('.iothub-lh-convert');
    await page.waitForFunction(
      `RED.nodes.node('legacy-method') && RED.nodes.node('legacy-method').type === 'iothub-module-method-request'`,
    );
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(`!RED.nodes.dirty()`);
    const deployed = await page.evaluate<{ flows: Array<{ id: string; type: string }> }>(
      `fetch('flows', { headers: { 'Node-RED-API-Version': 'v2' } }).then((r) => r.json())`,
    );
    assert.equal(deployed.flows.find((n) => n.id === 'legacy-method')?.type, 'iothub-module-method-request');
    // Nothing left to convert: the button says so and changes nothing.
    await page.click('.iothub-lh-convert');
    await page
      .locator('.red-ui-notification', {
        hasText: 'No node of the archived azure-iot-edge-module pack in the workspace',
      })
      .waitFor();
    assert.equal(await page.evaluate(`RED.nodes.dirty()`), false);
    // Take the converted flow away again so the tests after this one see the demo alone.
    const removed = await page.evaluate<number>(`(async () => {
      const headers = { 'Node-RED-API-Version': 'v2', 'Content-Type': 'application/json' };
      const { rev, flows } = await (await fetch('flows', { headers })).json();
      const legacy = (n) => n.id === 'legacy-tab' || n.z === 'legacy-tab';
      const body = JSON.stringify({ rev, flows: flows.filter((n) => !legacy(n)) });
      return (await fetch('flows', { method: 'POST', headers, body })).status;
    })()`);
    assert.equal(removed, 200);
  });

  it('npm start puts the local hub on the standard ports (8883, 443) when it can bind them, else says on stderr that it fell back', () => {
    const out = demo.output();
    if (/Local hub:\s+\S+ on localhost \(MQTT\/TLS 8883, WSS and HTTPS 443\)/.test(out))
      assert.doesNotMatch(out, /not available/);
    else
      assert.match(
        out,
        /npm start: the standard ports 8883\/443 are not available \(port (8883|443): (EADDRINUSE|EACCES)\); the local hub listens on port \d+ instead/,
      );
  });

  it('a second npm start on a busy port says which port and how to choose another, and exits 1', async () => {
    const port = new URL(demo.url).port;
    const second = spawn(process.execPath, [path.join(root, 'dist', 'scripts', 'start.js')], {
      cwd: root,
      env: {
        ...process.env,
        PORT: port,
        NODE_RED_USER_DIR: path.join(userDir, 'second'),
        AZURE_IOT_LOCAL_HUB_DIR: path.join(userDir, 'hubs'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    second.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    second.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
    const [code] = (await once(second, 'exit')) as [number];
    assert.equal(code, 1, text);
    assert.match(
      text,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); set PORT to another port`),
    );
  });

  it("Ctrl-C stops Node-RED and the local hub cleanly and withdraws the hub's announcement", async () => {
    await browser.close();
    const exited = once(demo.child, 'exit');
    demo.child.kill('SIGINT');
    // A terminal's Ctrl-C reaches npm too, which forwards it: the second SIGINT must not cut the clean stop short.
    await until(() => /SIGINT: stopping/.test(demo.output()), 'the stop to begin', 10_000);
    demo.child.kill('SIGINT');
    const [code] = (await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(resolve, 20_000, ['timeout']).unref()),
    ])) as [number | string];
    assert.equal(code, 0, demo.output());
    assert.match(demo.output(), /stopped\s*$/);
    assert.deepEqual(fs.readdirSync(path.join(userDir, 'hubs')), []);
  });
});
