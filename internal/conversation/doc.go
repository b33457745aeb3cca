// Package conversation is what the gateway sees of a virtual agent
// (Dialogflow CX): the turn it sends (Input), the answer (Turn), the
// agents it lists (AgentStatus), and the port it calls (Service). The
// adapter in adapters/dialogflow implements Service; the gateway never
// imports the adapter. It is HTTP-free and not a stable API.
package conversation
