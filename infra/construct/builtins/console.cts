// See README.md here: `node:console` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:console');
