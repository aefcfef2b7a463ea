"""One module per tab of the workbench: a ``build`` function (components + events, called inside
``gr.Blocks``) and plain callbacks ``on_*(service, …)`` that tests call without a browser."""
