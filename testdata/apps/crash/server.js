'use strict';
// Test app: fails at once, as a broken deploy would.
console.error('crashing');
process.exit(1);
