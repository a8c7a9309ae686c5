package now_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// serverJS is a test app's server, answering greeting.
func serverJS(greeting string) string {
	return "require('http').createServer((q, s) => s.end(" + strconv.Quote(greeting) + ")).listen(process.env.PORT);\n"
}

// deploymentBody is POST /now/deployments's body for app name.
func deploymentBody(name, greeting string) map[string]json.RawMessage {
	pkg, _ := json.Marshal(map[string]any{"name": name, "version": "1.0.0", "scripts": map[string]string{"start": "node server.js"}})
	js, _ := json.Marshal(serverJS(greeting))
	return map[string]json.RawMessage{"package": pkg, "server.js": js, "lib/util.js": json.RawMessage(`"module.exports = 1;\n"`)}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
