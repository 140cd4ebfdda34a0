"""Small pure functions: block costs, gate sampling and the logit
gradient, search objectives, REINFORCE."""
