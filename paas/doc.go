// Package paas is the platform's vocabulary: the types every layer speaks
// (users, teams, apps, snapshots, databases, domains, records, tokens, log
// entries), their validation, the errors the API faces turn into statuses,
// the principal (the authenticated caller), the one source of random ids,
// and the coalescing change notifier. It does no I/O of its own.
//
// The layers above it, each a package, import downwards only (checked by
// layers_test.go):
//
//	paas/server     composition root: store → deployer → service → faces
//	paas/nodejitsu, paas/now, …    faces: HTTP ↔ service calls, their document's shapes
//	paas/api        what the faces share: router, error writer, authenticator, limiter
//	paas/platform   the service, the only door: (ctx, principal, typed input)
//	paas/deploy     the deployer: releases, supervision, reconcile, log capture
//	paas/store      the one bbolt store
//	paas            this vocabulary
//
// One data model serves all faces: an object is identified by its owner and
// name ("owner/name"), and an owner is a user or a team, in one namespace;
// a Nodejitsu snapshot is the unit of deployment that the other faces call
// a deploy or a deployment.
package paas
