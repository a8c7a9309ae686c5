// Package paas is the platform's domain: users, API tokens, apps, snapshots,
// databases and logs, kept in one bbolt file, and the rules that govern them.
//
// The four public API faces (sub-packages nodejitsu, and later tsuru, now and
// jitsu) are thin translations of HTTP requests into calls on *Platform; they
// hold no state of their own. Everything durable goes through *Store, whose
// every multi-step change is one bbolt transaction, so a crash or a bad
// request never leaves half an app behind.
//
// One data model serves all faces: an app is identified by its owner and name
// ("owner/name", the app key); a Nodejitsu snapshot is the unit of deployment
// that the other faces call a deploy or a deployment. Snapshot files are kept
// content-addressed by their SHA-1, so identical files are stored once and any
// face can list or serve a deployment's files.
//
// Running apps is delegated to a runtime.Runtime through the Deployer; the
// store records what should run (the app's state and active snapshot), so the
// platform can reconcile the engine with it after a restart.
package paas
