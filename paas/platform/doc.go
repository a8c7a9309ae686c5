// Package platform is the service every API face and the UI call: the only
// door to the platform's state.
//
// Each method takes the caller (a *paas.Principal, nil when anonymous) and
// typed input, and does, in this order, authorization (access.go: a caller
// may act on an owner's objects if it is that user, a member of that team,
// or an admin; account matters need the password), validation and the state
// rules, on top of the store; deploys go through the deployer. Changes that
// views follow (ingress routes, DNS zones) are announced on the notifier.
// Faces never see the store or the deployer.
package platform
