/* The cipulse version, shared by the agent and the collector. */
#ifndef CIPULSE_VERSION_H
#define CIPULSE_VERSION_H

#define CIPULSE_VERSION "0.1.0"

#endif
