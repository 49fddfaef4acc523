// `node:http` for the bundles, as CommonJS: an ES import of `node:http` builds its ES facade, which
// reads every export, and its lazy WebSocket/EventSource getters load Node's internal undici
// (over 100 ms single-threaded). Required this way, that never happens.
module.exports = process.getBuiltinModule('node:http');
