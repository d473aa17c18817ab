// Connection string parsing and validation as the Python SDK does it, every error case, with literal inputs.
import assert from 'node:assert/strict';
import { parseConnectionString } from '../../src/client/auth/connectionString';
import { ValueError } from '../../src/client/errors';

const KEY = 'NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg=';

describe('parseConnectionString', () => {
  const valid: Array<[string, Record<string, string>]> = [
    [
      `HostName=h.azure-devices.net;DeviceId=d;ModuleId=m;SharedAccessKey=${KEY}`,
      { HostName: 'h.azure-devices.net', DeviceId: 'd', ModuleId: 'm', SharedAccessKey: KEY },
    ],
    [
      `HostName=h;DeviceId=d ev/$+%&#!*'()é;ModuleId=m;SharedAccessKey=${KEY};GatewayHostName=localhost:8883`,
      {
        HostName: 'h',
        DeviceId: "d ev/$+%&#!*'()é",
        ModuleId: 'm',
        SharedAccessKey: KEY,
        GatewayHostName: 'localhost:8883',
      },
    ],
    ['HostName=h;DeviceId=d;x509=true', { HostName: 'h', DeviceId: 'd', x509: 'true' }],
    ['HostName=h;DeviceId=d;x509=false', { HostName: 'h', DeviceId: 'd', x509: 'false' }],
    [
      'HostName=h;SharedAccessKeyName=owner;SharedAccessKey=a==',
      { HostName: 'h', SharedAccessKeyName: 'owner', SharedAccessKey: 'a==' },
    ],
    [
      'HostName=h;DeviceId=d;SharedAccessKey=k;SharedAccessSignature=x',
      { HostName: 'h', DeviceId: 'd', SharedAccessKey: 'k', SharedAccessSignature: 'x' },
    ],
  ];
  for (const [text, expected] of valid) {
    it(`parses ${text}`, () => assert.deepEqual(parseConnectionString(text), expected));
  }

  const invalid: Array<[string, string, RegExp]> = [
    ['trailing semicolon', `HostName=h;DeviceId=d;SharedAccessKey=${KEY};`, /Unable to parse|cannot be parsed/i],
    ['segment without =', 'HostName=h;DeviceId;SharedAccessKey=k', /parse/i],
    ['empty string', '', /parse/i],
    ['unknown key', 'HostName=h;DeviceId=d;SharedAccessKey=k;Foo=bar', /Invalid Key/],
    ['wrong key case', 'hostname=h;DeviceId=d;SharedAccessKey=k', /Invalid Key/],
    ['duplicate key', 'HostName=h;HostName=h;DeviceId=d;SharedAccessKey=k', /Duplicate/],
    ['mixed authentication', 'HostName=h;DeviceId=d;SharedAccessKey=k;x509=true', /Mixed/],
    ['no HostName', 'DeviceId=d;SharedAccessKey=k', /Incomplete/],
    ['no DeviceId and no key name', 'HostName=h;SharedAccessKey=k', /Incomplete/],
    ['no key', 'HostName=h;DeviceId=d', /Incomplete/],
    ['empty values count as absent', 'HostName=h;DeviceId=;SharedAccessKey=k', /Incomplete/],
    ['empty key value', 'HostName=h;DeviceId=d;SharedAccessKey=', /Incomplete/],
  ];
  for (const [name, text, message] of invalid) {
    it(`rejects: ${name}`, () => {
      assert.throws(
        () => parseConnectionString(text),
        (err: unknown) => err instanceof ValueError && message.test(err.message),
      );
    });
  }

  for (const bad of [undefined, null, 42, {}, Buffer.from('HostName=h')]) {
    it(`TypeError for ${Object.prototype.toString.call(bad)}`, () => {
      assert.throws(() => parseConnectionString(bad), TypeError);
    });
  }
});
