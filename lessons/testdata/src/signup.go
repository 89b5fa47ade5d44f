package labs

// signupSync creates the user and calls every downstream service in turn.
func signupSync() error {
	return nil
}

func signupAsync() error { return nil }
