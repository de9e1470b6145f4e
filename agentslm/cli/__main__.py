from agentslm.cli.main import main

main()
