"""MLflow: the store (resolved once by a door), the runs, a sweep's callback and its summary. The only
package that imports mlflow."""
