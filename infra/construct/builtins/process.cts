// See README.md here: `node:process` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:process');
