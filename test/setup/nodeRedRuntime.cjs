// Makes `node-red` and `@node-red/*` resolve to the Node-RED named by TEST_NODE_RED_DIR (the folder of a node-red
// package: the 3.1 alias in node_modules, or a Node-RED 5.0 installed by the test matrix), so the test helper, the
// core nodes the specs load and `npm start` all run on that Node-RED. The matrix passes it to every process through
// NODE_OPTIONS=--require; without TEST_NODE_RED_DIR it does nothing and the dev dependency `node-red` is used.
'use strict';
const Module = require('node:module');
const path = require('node:path');

const dir = process.env.TEST_NODE_RED_DIR;
if (dir) {
  const home = path.resolve(dir);
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, isMain, options) {
    if (request === 'node-red') return resolve.call(this, home, parent, isMain, options);
    if (request.startsWith('node-red/'))
      return resolve.call(this, path.join(home, request.slice('node-red/'.length)), parent, isMain, options);
    // The runtime's own @node-red packages: nested under it (an npm alias) or beside it (a plain install).
    if (request.startsWith('@node-red/')) return resolve.call(this, request, parent, isMain, { paths: [home] });
    return resolve.call(this, request, parent, isMain, options);
  };
}
