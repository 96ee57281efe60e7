"""Live workloads: deep research, coding and science agents with real local tools.

    corpus.py           Document corpus built from the stdlib's docstrings
    index.py            BM25Index
    netlatency.py       NetworkLatency: seeded lognormal delays of the corpus server
    web_server.py       CorpusServer: /search and /page/<id> over HTTP on 127.0.0.1
    research_tools.py   search, fetch (read_only; speculation only towards the server)
    research_agent.py   research tasks and the scripted research agent
    repo.py             the sample repository (minirepo/) and coding tasks
    coding_tools.py     grep, view, edit, run_python, pytest on a repository copy
    coding_agent.py     the scripted coding agent
    datasets.py         seeded curve datasets; science_models.py the model curves
    science_compute.py  numpy/scipy computations (in process or as a subprocess)
    science_tools.py    describe, fit, integrate, solve
    science_agent.py    science tasks and the scripted science agent
    scripted.py         ScriptedAgent: an agent program as forced turns (turn_params)
    toolbox.py          LiveToolBox: registry + run log + oracle playback
    tasks.py            LiveTask and make_tasks
    environment.py      LiveEnvironment: the server and the repository copies of a run
    runner.py           run_live_mode: tasks as live sessions in one mode
    live.py             live(options): training, predictor, modes, report
    errors.py           typed errors of the tools

See docs/workloads.md.
"""
