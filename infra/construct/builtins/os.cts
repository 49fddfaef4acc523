// See README.md here: `node:os` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:os');
