// See README.md here: `node:fs/promises` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:fs/promises');
