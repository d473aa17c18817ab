// Node-RED settings for the IoT Edge module container: flows and credentials in /data, secret from the environment.
'use strict';
if (!process.env.NODE_RED_CREDENTIAL_SECRET) {
  throw new Error('Set NODE_RED_CREDENTIAL_SECRET: Node-RED encrypts the module credentials with it.');
}
module.exports = {
  uiPort: Number(process.env.PORT || 1880),
  flowFile: 'flows.json',
  credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET,
  // The editor is an admin surface: protect it (adminAuth) or publish the port only on a trusted network.
  adminAuth: process.env.NODE_RED_ADMIN_HASH
    ? { type: 'credentials', users: [{ username: process.env.NODE_RED_ADMIN_USER || 'admin', password: process.env.NODE_RED_ADMIN_HASH, permissions: '*' }] }
    : undefined,
  logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || 'info', metrics: false, audit: false } },
};
