// See README.md here: `node:zlib` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:zlib');
