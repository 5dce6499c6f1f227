// Package cluster holds the model of a KUMA (or Acura) HA cluster that every
// other package reasons about: hosts with addresses and roles, the layout
// kind, the port matrix and the quorum arithmetic. It is pure data: parsing
// inventories lives in package inventory, probing the machine in checks.
package cluster
