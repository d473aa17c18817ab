// The user agent string: the Python SDK's shape with our identity.
import assert from 'node:assert/strict';
import os from 'node:os';
import { userAgentString } from '../../src/client/userAgent';
import pkg from '../../package.json';

describe('userAgentString', () => {
  it("has the Python SDK's shape with our package name and version, no space before (", () => {
    assert.equal(
      userAgentString(),
      `node-red-contrib-azure-iot-module/${pkg.version}(${process.versions.node};${os.type()} ${os.release()};${os.arch()})`,
    );
    assert.match(userAgentString(), /^node-red-contrib-azure-iot-module\/\d+\.\d+\.\d+\(\d+\.\d+\.\d+;[^;]+;[^;)]+\)$/);
  });
});
