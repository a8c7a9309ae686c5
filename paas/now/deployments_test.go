package now_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/selfhost/paas/paas"
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

// cliPackage is the package.json of cliFiles.
const cliPackage = `{"name":"x","scripts":{"start":"node server.js"}}`

// cliFiles is the file list the now CLI sends for an app answering greeting.
func cliFiles(greeting string) []paas.File {
	pkg := cliPackage
	return []paas.File{
		{Path: "package.json", SHA1: sha1Hex(pkg), Size: int64(len(pkg)), Mode: 0o100644},
		{Path: "server.js", SHA1: sha1Hex(serverJS(greeting)), Size: int64(len(serverJS(greeting))), Mode: 0o100644},
	}
}

// cliCreateBody is POST /now/create's body as the now CLI 3.x sends it.
func cliCreateBody(name, greeting string, env map[string]any) map[string]any {
	var files []map[string]any
	for _, f := range cliFiles(greeting) {
		files = append(files, map[string]any{"sha": f.SHA1, "size": f.Size, "file": f.Path, "mode": f.Mode})
	}
	return map[string]any{"env": env, "public": false, "forceNew": false, "forceSync": false, "name": name,
		"description": "", "deploymentType": "NPM", "files": files, "engines": nil}
}
