-- MLflow keeps its tracking store in a database of its own, beside the portal's.
CREATE DATABASE mlflow OWNER taller;
