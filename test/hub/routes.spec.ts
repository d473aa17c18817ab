// Unit tests for edgeHub route parsing and matching (src/hub/routes.ts), WHERE conditions included.
import assert from 'node:assert/strict';
import {
  RouteSyntaxError,
  parseCondition,
  parseRoute,
  parseRoutes,
  resolveEndpoints,
  routeMatches,
  type RoutableMessage,
} from '../../src/hub/routes';

function msg(over: Partial<RoutableMessage> = {}): RoutableMessage {
  return { deviceId: 'dev1', moduleId: 'sensor', outputName: 'temp', properties: {}, systemProperties: {}, ...over };
}

describe('hub routes', () => {
  describe('parseRoute', () => {
    it('parses $upstream and BrokeredEndpoint with either quote', () => {
      assert.deepEqual(parseRoute('r', 'FROM /messages/* INTO $upstream').endpoint, { kind: 'upstream' });
      assert.deepEqual(
        parseRoute('r', 'FROM /messages/modules/a/outputs/o INTO BrokeredEndpoint("/modules/b/inputs/i")').endpoint,
        { kind: 'input', moduleId: 'b', inputName: 'i' },
      );
      assert.deepEqual(parseRoute('r', "from /messages/* into brokeredendpoint('/modules/b/inputs/in 1')").endpoint, {
        kind: 'input',
        moduleId: 'b',
        inputName: 'in 1',
      });
    });
    it('parses a WHERE clause', () => {
      const r = parseRoute('r', "FROM /messages/* WHERE a = '1' AND NOT IS_DEFINED(b) INTO $upstream");
      assert.ok(r.condition);
    });
    const bad = [
      'INTO $upstream',
      'FROM /messages/*',
      'FROM messages/* INTO $upstream',
      'FROM /twinChangeNotifications INTO $upstream',
      'FROM /messages/* INTO somewhere',
      'FROM /messages/* INTO BrokeredEndpoint("/modules/b/outputs/i")',
      'FROM /messages//x INTO $upstream',
      'FROM /messages/* WHERE a = INTO $upstream',
      'FROM /messages/* WHERE (a = 1 INTO $upstream',
      "FROM /messages/* WHERE a = 'x INTO $upstream",
      'FROM /messages/* WHERE a INTO $upstream',
    ];
    for (const text of bad) it(`rejects ${text}`, () => assert.throws(() => parseRoute('r', text), RouteSyntaxError));
    it('names the bad route', () =>
      assert.throws(() => parseRoutes({ good: 'FROM /* INTO $upstream', broken: 'nope' }), /broken/));
  });

  describe('sources', () => {
    const cases: Array<[string, Partial<RoutableMessage>, boolean]> = [
      ['/*', {}, true],
      ['/messages/*', {}, true],
      ['/messages/*', { moduleId: undefined, outputName: undefined }, true],
      ['/messages/modules/sensor/*', {}, true],
      ['/messages/modules/sensor/*', { outputName: undefined }, true],
      ['/messages/modules/other/*', {}, false],
      ['/messages/modules/sensor/outputs/*', {}, true],
      ['/messages/modules/sensor/outputs/*', { outputName: undefined }, false],
      ['/messages/modules/sensor/outputs/temp', {}, true],
      ['/messages/modules/sensor/outputs/hum', {}, false],
      ['/messages/modules/*/outputs/temp', {}, true],
      ['/messages/modules/sensor/outputs/temp', { moduleId: undefined }, false],
      ['/messages/modules/sensor', { outputName: undefined }, true],
    ];
    for (const [source, over, expected] of cases) {
      it(`${source} ${expected ? 'takes' : 'skips'} ${JSON.stringify(over)}`, () => {
        assert.equal(routeMatches(parseRoute('r', `FROM ${source} INTO $upstream`), msg(over)), expected);
      });
    }
  });

  describe('WHERE', () => {
    const m = msg({
      properties: { alert: 'true', level: '5', site: "o'hare", 'x-y': 'dash' },
      systemProperties: { '$.ct': 'application/json', '$.mid': 'mid-1' },
    });
    const cases: Array<[string, boolean]> = [
      ["alert = 'true'", true],
      ['alert = "true"', true],
      ['alert = true', true],
      ["alert = 'false'", false],
      ["alert != 'false'", true],
      ["alert <> 'true'", false],
      ['level = 5', true],
      ['level > 4 AND level < 6', true],
      ['level >= 6', false],
      ['level <= 5.0', true],
      ["level = '5'", true],
      ["missing = 'x'", false],
      ["NOT (missing = 'x')", false],
      ["missing != 'x'", false],
      ['IS_DEFINED(alert)', true],
      ['IS_DEFINED(missing)', false],
      ['NOT IS_DEFINED(missing)', true],
      ["alert = 'true' AND level = 5", true],
      ["alert = 'false' OR level = 5", true],
      ["alert = 'false' OR missing = 1", false],
      ["missing = 1 OR alert = 'true'", true],
      ["NOT alert = 'false'", true],
      ["(alert = 'false' OR level = 5) AND NOT IS_DEFINED(missing)", true],
      ["alert = 'false' OR level = 5 AND site = 'x'", false],
      ["site = 'o''hare'", true],
      ["[x-y] = 'dash'", true],
      ["x-y = 'dash'", true],
      ["$connectionModuleId = 'sensor'", true],
      ["$connectionDeviceId = 'dev1'", true],
      ["$connectionModuleId = 'other'", false],
      ["$contentType = 'application/json'", true],
      ["$messageId = 'mid-1'", true],
      ["$outputName = 'temp'", true],
      ['IS_DEFINED($connectionModuleId)', true],
      ['true', true],
      ["and_or = 'x' OR alert = 'true'", true],
    ];
    for (const [where, expected] of cases) {
      it(`${where} → ${expected}`, () => {
        assert.equal(routeMatches(parseRoute('r', `FROM /messages/* WHERE ${where} INTO $upstream`), m), expected);
      });
    }
    it('sees a device message as having no $connectionModuleId', () => {
      const r = parseRoute('r', 'FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO $upstream');
      assert.equal(routeMatches(r, msg({ moduleId: undefined, outputName: undefined })), true);
      assert.equal(routeMatches(r, msg()), false);
    });
    it('rejects empty and dangling conditions', () => {
      assert.throws(() => parseCondition(''), RouteSyntaxError);
      assert.throws(() => parseCondition('a = 1 AND'), RouteSyntaxError);
      assert.throws(() => parseCondition('a = 1 b'), RouteSyntaxError);
      assert.throws(() => parseCondition('IS_DEFINED(1)'), RouteSyntaxError);
      assert.throws(() => parseCondition('a ~ 1'), RouteSyntaxError);
    });
  });

  describe('resolveEndpoints', () => {
    it('sends everything upstream when there are no routes', () => {
      assert.deepEqual(resolveEndpoints([], msg()), [{ kind: 'upstream' }]);
    });
    it('collects every matching endpoint once', () => {
      const routes = parseRoutes({
        a: 'FROM /messages/* INTO $upstream',
        b: 'FROM /messages/modules/sensor/* INTO $upstream',
        c: 'FROM /messages/modules/sensor/outputs/temp INTO BrokeredEndpoint("/modules/filter/inputs/in1")',
        d: 'FROM /messages/modules/sensor/outputs/* INTO BrokeredEndpoint("/modules/filter/inputs/in1")',
        e: 'FROM /messages/modules/other/* INTO BrokeredEndpoint("/modules/x/inputs/y")',
      });
      assert.deepEqual(resolveEndpoints(routes, msg()), [
        { kind: 'upstream' },
        { kind: 'input', moduleId: 'filter', inputName: 'in1' },
      ]);
      assert.deepEqual(resolveEndpoints(routes, msg({ moduleId: 'nobody' })), [{ kind: 'upstream' }]);
    });
    it('drops messages no route takes', () => {
      const routes = parseRoutes({ a: 'FROM /messages/modules/x/* INTO $upstream' });
      assert.deepEqual(resolveEndpoints(routes, msg()), []);
    });
  });
});
