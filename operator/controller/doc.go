// Package controller reconciles Plattr Applications: it provisions the backing
// services through the services contract, writes their Secrets, applies the
// workload (Deployment, Service, Ingress, ServiceAccount, PodDisruptionBudget) with
// server-side apply, and reports conditions.
//
// Desired objects are pure functions of the Application (application_workload.go);
// I/O stays thin. An unchanged Application costs no write to the API server or to
// any backend.
package controller
