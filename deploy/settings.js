// Node-RED settings for the IoT Edge module container: flows and credentials in /data, secret from the environment.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

if (!process.env.NODE_RED_CREDENTIAL_SECRET) {
  throw new Error('Set NODE_RED_CREDENTIAL_SECRET: Node-RED encrypts the module credentials with it.');
}
// First start on an empty volume: begin with the module's flow from the image (deploy/flows.json); later deploys
// from the editor or the admin API replace it on the volume. An absolute path: Node-RED would otherwise prefer a
// flows.json in its working directory to the one in the user directory.
const userDir = process.env.NODE_RED_USER_DIR || '/data';
const flowFile = path.join(userDir, 'flows.json');
if (!fs.existsSync(flowFile)) fs.copyFileSync(path.join(__dirname, 'initial-flows.json'), flowFile);

module.exports = {
  uiPort: Number(process.env.PORT || 1880),
  flowFile,
  credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET,
  // The editor is an admin surface: protect it (adminAuth) or publish the port only on a trusted network.
  adminAuth: process.env.NODE_RED_ADMIN_HASH
    ? {
        type: 'credentials',
        users: [
          {
            username: process.env.NODE_RED_ADMIN_USER || 'admin',
            password: process.env.NODE_RED_ADMIN_HASH,
            permissions: '*',
          },
        ],
      }
    : undefined,
  // No palette installs or update checks from inside a device; the image carries what the module needs.
  telemetry: { enabled: false, updateNotification: false },
  logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || 'info', metrics: false, audit: false } },
};
