// See README.md here: `node:child_process` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:child_process');
