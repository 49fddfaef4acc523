// See README.md here: `node:https` required where it is first used, not imported at load.
module.exports = process.getBuiltinModule('node:https');
