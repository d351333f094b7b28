from simulators.agent.cli import agent_main

agent_main()
