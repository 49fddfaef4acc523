// See README.md here: `node:http2` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:http2');
