// `npm start`: until the nodes land this only says so; the nodes issue makes it start the local hub and Node-RED.
'use strict';
console.log('npm start: the local hub and Node-RED demo are not built yet.');
